import React from 'react';

import { SectionProps } from './context';
import { BaselineField, EventsRow, FiltersField } from './fields';

/** The settings of versions queries (each model version against a baseline). */
export function VersionsSection({ ctx }: SectionProps) {
  return (
    <>
      <EventsRow ctx={ctx} />
      <FiltersField ctx={ctx} />
      <BaselineField ctx={ctx} />
    </>
  );
}
