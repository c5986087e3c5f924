import React from 'react';

import { SectionProps } from './context';
import { EventsRow, FiltersField, GroupByMetricRow, SearchField } from './fields';

/** The settings of breakdown and timeseries queries (counts, or a metric, per group-by value). */
export function BreakdownSection({ ctx }: SectionProps) {
  return (
    <>
      <EventsRow ctx={ctx} kind sentiment />
      <SearchField ctx={ctx} />
      <FiltersField ctx={ctx} />
      <GroupByMetricRow ctx={ctx} />
    </>
  );
}
