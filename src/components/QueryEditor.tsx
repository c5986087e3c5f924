import React, { useMemo, useRef } from 'react';
import { css } from '@emotion/css';
import { QueryEditorProps } from '@grafana/data';
import { Combobox, ComboboxOption, InlineField, InlineFieldRow, RadioButtonGroup, Stack, Text } from '@grafana/ui';

import { DataSource } from '../datasource';
import { describeQuery, queryWarnings } from '../summary';
import {
  DEFAULT_QUERY,
  FeedbackDataSourceOptions,
  FeedbackQuery,
  FeedbackQueryType,
  FeedbackSource,
  FILTER_FIELDS,
  FILTER_ONLY_FIELDS,
  GROUP_BY_FIELDS,
  METRICS,
  QUERY_OPTION_KEYS,
  QUERY_TYPE_OPTIONS,
  QUERY_TYPES,
  TAXONOMY_TAGS,
} from '../types';
import {
  DEFAULT_SOURCE_VALUE,
  lookupRange,
  uniq,
  useResourceValues,
  useSourceOptions,
  variableNames,
} from './editorSupport';
import { LABEL_WIDTH, SectionContext } from './query/context';
import { SECTIONS } from './query/sections';

export type Props = QueryEditorProps<DataSource, FeedbackQuery, FeedbackDataSourceOptions>;

/**
 * A new query type keeps only the settings it uses (QUERY_TYPE_OPTIONS): a hidden setting must not change, or
 * break, the query that runs (e.g. a versions query rejects a sentiment).
 */
export function withQueryType(query: FeedbackQuery, queryType: FeedbackQueryType): FeedbackQuery {
  const next: FeedbackQuery = { ...query, queryType };
  const keep = QUERY_TYPE_OPTIONS[queryType];
  for (const key of QUERY_OPTION_KEYS) {
    if (!keep.includes(key)) {
      delete next[key];
    }
  }
  return next;
}

const summaryClass = css({ padding: '4px 0 0 2px' });

function toOptions(values: string[]): Array<ComboboxOption<string>> {
  return values.map((value) => ({ value, label: value }));
}

export function QueryEditor({ datasource, query, onChange, onRunQuery, range }: Props) {
  const queryType = query.queryType ?? DEFAULT_QUERY.queryType!;
  const source = query.source ?? datasource.defaultSource;
  const { from, to } = lookupRange(range);

  const fetchedTags = useResourceValues(datasource, 'tags', source, from, to);
  const fetchedFields = useResourceValues(datasource, 'fields', source, from, to);
  const variables = useMemo(() => variableNames(), []);

  const tagOptions = useMemo(
    () => toOptions(uniq([...TAXONOMY_TAGS, ...fetchedTags, ...(query.tags ?? []), ...variables])),
    [fetchedTags, query.tags, variables]
  );
  const groupByOptions = useMemo(() => {
    const fields = fetchedFields.filter((f) => !(FILTER_ONLY_FIELDS as readonly string[]).includes(f));
    const base = fields.length > 0 ? fields : [...GROUP_BY_FIELDS];
    return toOptions(uniq([...base, ...(query.groupBy ?? []), ...variables]));
  }, [fetchedFields, query.groupBy, variables]);
  const filterKeyOptions = useMemo(
    () => toOptions(uniq([...(fetchedFields.length > 0 ? fetchedFields : FILTER_FIELDS), ...FILTER_ONLY_FIELDS])),
    [fetchedFields]
  );
  const metricOptions = useMemo(
    () =>
      query.metric && !METRICS.some((m) => m.value === query.metric)
        ? [...METRICS, toOptions([query.metric])[0]]
        : METRICS,
    [query.metric]
  );
  const sourceOptions = useSourceOptions(datasource.defaultSource);

  /**
   * Changes the query and runs it, once per distinct query: Combobox (downshift) calls its onChange again, with
   * the previous render's props, while its state settles after a pick, which would run the same query two or
   * three times (seen in the browser test). The ref is shared by every render's closure, so a stale repeat is
   * recognised.
   */
  const lastRun = useRef<string>('');
  const apply = (next: FeedbackQuery) => {
    const key = JSON.stringify(next);
    if (key === lastRun.current) {
      return;
    }
    lastRun.current = key;
    onChange(next);
    onRunQuery();
  };
  const change = (patch: Partial<FeedbackQuery>) => apply({ ...query, ...patch });
  /** Changes the query without running it (text inputs run on blur). */
  const edit = (patch: Partial<FeedbackQuery>) => onChange({ ...query, ...patch });

  const ctx: SectionContext = {
    datasource,
    query,
    change,
    edit,
    onRunQuery,
    source,
    from,
    to,
    variables,
    tagOptions,
    groupByOptions,
    filterKeyOptions,
    metricOptions,
  };
  const Section = SECTIONS[queryType] ?? SECTIONS[DEFAULT_QUERY.queryType!];

  const summary = describeQuery(query, datasource.defaultSource);
  const warnings = queryWarnings(query);

  return (
    <Stack direction="column" gap={0}>
      <InlineFieldRow>
        <InlineField label="Query type" labelWidth={LABEL_WIDTH} tooltip="What the query returns">
          <Combobox<FeedbackQueryType>
            id="feedback-query-type"
            width={20}
            options={QUERY_TYPES}
            value={queryType}
            onChange={(o) => apply(withQueryType(query, o.value))}
          />
        </InlineField>
        <InlineField label="Source" tooltip="Where feedback events are read from">
          <RadioButtonGroup<string>
            id="feedback-source"
            options={sourceOptions}
            value={query.source ?? DEFAULT_SOURCE_VALUE}
            onChange={(v) => change({ source: v ? (v as FeedbackSource) : undefined })}
          />
        </InlineField>
      </InlineFieldRow>

      <Section ctx={ctx} />

      <div className={summaryClass} data-testid="feedback-query-summary" aria-live="polite">
        <Text color="secondary" variant="bodySmall">
          {summary}
        </Text>
        {warnings.map((w) => (
          <Text key={w} element="p" color="warning" variant="bodySmall">
            {w}
          </Text>
        ))}
      </div>
    </Stack>
  );
}
