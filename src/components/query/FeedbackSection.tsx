import React from 'react';

import { SectionProps } from './context';
import { EventsRow, FiltersField, LimitField, SearchField } from './fields';

/** The settings of feedback queries (the events themselves as log lines). */
export function FeedbackSection({ ctx }: SectionProps) {
  return (
    <>
      <EventsRow ctx={ctx} kind sentiment />
      <SearchField ctx={ctx} />
      <FiltersField ctx={ctx} />
      <LimitField ctx={ctx} />
    </>
  );
}
