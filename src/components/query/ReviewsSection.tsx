import React from 'react';

import { SectionProps } from './context';
import { FiltersField, LimitField, SearchField } from './fields';

/** The settings of reviews queries (feedback awaiting expert review). */
export function ReviewsSection({ ctx }: SectionProps) {
  return (
    <>
      <SearchField ctx={ctx} />
      <FiltersField ctx={ctx} />
      <LimitField ctx={ctx} />
    </>
  );
}
