import React from 'react';

import { SectionProps } from './context';
import { CorrelationIdField } from './fields';

/** The settings of trace queries (everything recorded for one correlation id). */
export function TraceSection({ ctx }: SectionProps) {
  return <CorrelationIdField ctx={ctx} />;
}
