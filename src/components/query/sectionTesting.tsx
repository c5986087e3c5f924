import React, { ComponentType } from 'react';
import { render } from '@testing-library/react';

import type { DataSource } from '../../datasource';
import { setupComboboxEnvironment } from '../../test/combobox';
import { FeedbackQuery, QueryOptionKey, ResourceParams, ResourcePath } from '../../types';
import { SectionContext, SectionProps } from './context';

// Helpers for the section tests: a section rendered on its own, with a context whose callbacks are recorded and
// whose data source answers only the look-ups a section makes.

/** The element of each setting, as the sections render it. */
const SETTING_SELECTORS: Record<QueryOptionKey, string> = {
  kind: '#feedback-kind',
  sentiment: '#feedback-sentiment',
  tags: '#feedback-tags',
  filters: 'button[type="button"]:not([aria-label])',
  search: '#feedback-search',
  groupBy: '#feedback-group-by',
  metric: '#feedback-metric',
  correlationId: '#feedback-correlation-id',
  baseline: '#feedback-baseline',
  limit: '#feedback-limit',
};

/** The settings a rendered section shows, sorted. */
export function shownSettings(container: HTMLElement): QueryOptionKey[] {
  return (Object.keys(SETTING_SELECTORS) as QueryOptionKey[])
    .filter((key) =>
      key === 'filters'
        ? Array.from(container.querySelectorAll(SETTING_SELECTORS.filters)).some((b) => b.textContent === 'Add filter')
        : container.querySelector(SETTING_SELECTORS[key]) !== null
    )
    .sort();
}

export function renderSection(Section: ComponentType<SectionProps>, query: Partial<FeedbackQuery> = {}) {
  const fetchValues = jest.fn(async (path: ResourcePath, params?: ResourceParams): Promise<string[]> => {
    if (path === 'model-versions') {
      return [`${params?.model_id ?? 'any'}-v1`, `${params?.model_id ?? 'any'}-v2`];
    }
    if (path === 'field-values') {
      return [`${params?.field}-value`];
    }
    throw new Error(`unexpected look-up ${path}`);
  });
  const ctx: SectionContext = {
    datasource: { fetchValues } as unknown as DataSource,
    query: { refId: 'A', ...query },
    change: jest.fn(),
    edit: jest.fn(),
    onRunQuery: jest.fn(),
    source: 'loki',
    from: 1_000_000,
    to: 2_000_000,
    variables: ['$var'],
    tagOptions: [{ value: 'bias', label: 'bias' }],
    groupByOptions: [{ value: 'model_version', label: 'model_version' }],
    filterKeyOptions: [{ value: 'model_id', label: 'model_id' }],
    metricOptions: [{ value: 'count', label: 'Count' }],
  };
  setupComboboxEnvironment();
  const view = render(<Section ctx={ctx} />);
  return { ...view, ctx, fetchValues };
}
