import React from 'react';

import { SectionProps } from './context';
import { EventsRow, FiltersField, LimitField, SearchField } from './fields';

/** The settings of clusters queries (similar comments grouped). */
export function ClustersSection({ ctx }: SectionProps) {
  return (
    <>
      <EventsRow ctx={ctx} sentiment />
      <SearchField ctx={ctx} />
      <FiltersField ctx={ctx} />
      <LimitField ctx={ctx} />
    </>
  );
}
