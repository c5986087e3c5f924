import { ComboboxOption } from '@grafana/ui';

import type { DataSource } from '../../datasource';
import { FeedbackQuery, FeedbackSource } from '../../types';

/** What the QueryEditor shell hands to the section of the query's type. */
export interface SectionContext {
  datasource: DataSource;
  query: FeedbackQuery;
  /** Changes the query and runs it. */
  change: (patch: Partial<FeedbackQuery>) => void;
  /** Changes the query without running it (text inputs run on blur). */
  edit: (patch: Partial<FeedbackQuery>) => void;
  onRunQuery: () => void;
  /** The source the query reads (its own or the data source's default). */
  source: FeedbackSource;
  /** The look-up range, epoch ms. */
  from?: number;
  to?: number;
  /** `$name` of each dashboard variable. */
  variables: string[];
  tagOptions: Array<ComboboxOption<string>>;
  groupByOptions: Array<ComboboxOption<string>>;
  filterKeyOptions: Array<ComboboxOption<string>>;
  metricOptions: Array<ComboboxOption<string>>;
}

export interface SectionProps {
  ctx: SectionContext;
}

export const LABEL_WIDTH = 14;
