import React, { ChangeEvent, useMemo, useRef } from 'react';
import { css } from '@emotion/css';
import { QueryEditorProps } from '@grafana/data';
import {
  Button,
  Combobox,
  ComboboxOption,
  IconButton,
  InlineField,
  InlineFieldRow,
  InlineLabel,
  Input,
  MultiCombobox,
  RadioButtonGroup,
  Stack,
  Text,
} from '@grafana/ui';

import { DataSource } from '../datasource';
import { describeQuery, queryWarnings } from '../summary';
import {
  DEFAULT_LIMIT,
  DEFAULT_QUERY,
  FeedbackDataSourceOptions,
  FeedbackFilter,
  FeedbackKind,
  FeedbackMetric,
  FeedbackQuery,
  FeedbackQueryType,
  FeedbackSentiment,
  FeedbackSource,
  FILTER_FIELDS,
  FILTER_ONLY_FIELDS,
  FILTER_OPERATORS,
  FilterOperator,
  GROUP_BY_FIELDS,
  KINDS,
  KNOWN_FIELD_VALUES,
  MAX_LIMIT,
  METRICS,
  QUERY_OPTION_KEYS,
  QUERY_TYPE_OPTIONS,
  QUERY_TYPES,
  QueryOptionKey,
  SENTIMENTS,
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
import { SuggestInput } from './SuggestInput';

export type Props = QueryEditorProps<DataSource, FeedbackQuery, FeedbackDataSourceOptions>;

const LABEL_WIDTH = 14;

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

/** A label for screen readers (and tests) on controls that have no visible label of their own. */
const hiddenLabelClass = css({
  position: 'absolute',
  width: 1,
  height: 1,
  padding: 0,
  margin: -1,
  overflow: 'hidden',
  clip: 'rect(0, 0, 0, 0)',
  whiteSpace: 'nowrap',
  border: 0,
});

const summaryClass = css({ padding: '4px 0 0 2px' });

function HiddenLabel({ htmlFor, children }: { htmlFor: string; children: string }) {
  return (
    <label htmlFor={htmlFor} className={hiddenLabelClass}>
      {children}
    </label>
  );
}

function toOptions(values: string[]): Array<ComboboxOption<string>> {
  return values.map((value) => ({ value, label: value }));
}

export function QueryEditor({ datasource, query, onChange, onRunQuery, range }: Props) {
  const queryType = query.queryType ?? DEFAULT_QUERY.queryType!;
  const shown = QUERY_TYPE_OPTIONS[queryType] ?? QUERY_TYPE_OPTIONS[DEFAULT_QUERY.queryType!];
  const has = (option: QueryOptionKey) => shown.includes(option);
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

  const filters = query.filters ?? [];
  const setFilter = (index: number, patch: Partial<FeedbackFilter>, run: boolean) => {
    const next = filters.map((f, i) => (i === index ? { ...f, ...patch } : f));
    if (run) {
      change({ filters: next });
    } else {
      edit({ filters: next });
    }
  };

  const onLimitChange = (event: ChangeEvent<HTMLInputElement>) => {
    const n = parseInt(event.target.value, 10);
    edit({ limit: Number.isFinite(n) ? Math.min(Math.max(n, 1), MAX_LIMIT) : undefined });
  };

  /** Suggestions for a filter row's value: known values, the values in the data, the variables. */
  const loadFieldValues = (key: string) => async () => {
    let fetched: string[] = [];
    if (key) {
      try {
        fetched = await datasource.fetchValues('field-values', { field: key, source, from, to });
      } catch {
        // Suggestions only: the known values and variables remain.
      }
    }
    return uniq([...(KNOWN_FIELD_VALUES[key] ?? []), ...fetched, ...variables]);
  };

  /** Suggestions for the baseline: the versions in the time range (of the filtered model id, if one). */
  const modelIdFilter = filters.find((f) => f.key === 'model_id' && (f.operator ?? '=') === '=' && f.value);
  const loadVersions = async () => {
    let fetched: string[] = [];
    try {
      fetched = await datasource.fetchValues('model-versions', { source, from, to, model_id: modelIdFilter?.value });
    } catch {
      // Suggestions only.
    }
    return uniq([...fetched, ...variables]);
  };

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

      {has('correlationId') && (
        <InlineFieldRow>
          <InlineField
            label="Correlation ID"
            labelWidth={LABEL_WIDTH}
            tooltip="The correlation id of the interaction to trace; template variables allowed"
            grow
          >
            <Input
              id="feedback-correlation-id"
              placeholder="e.g. 5f0c… or $correlation_id"
              value={query.correlationId ?? ''}
              onChange={(e: ChangeEvent<HTMLInputElement>) => edit({ correlationId: e.target.value })}
              onBlur={onRunQuery}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {(has('kind') || has('sentiment') || has('tags')) && (
        <InlineFieldRow>
          {has('kind') && (
            <InlineField label="Kind" labelWidth={LABEL_WIDTH} tooltip="Which events to read">
              <Combobox<FeedbackKind>
                id="feedback-kind"
                width={20}
                options={KINDS}
                value={query.kind ?? DEFAULT_QUERY.kind!}
                onChange={(o) => change({ kind: o.value })}
              />
            </InlineField>
          )}
          {has('sentiment') && (
            <InlineField label="Sentiment" tooltip="Only events with this sentiment">
              <Combobox<FeedbackSentiment>
                id="feedback-sentiment"
                width={16}
                options={SENTIMENTS}
                value={query.sentiment ?? ''}
                onChange={(o) => change({ sentiment: o.value || undefined })}
              />
            </InlineField>
          )}
          {has('tags') && (
            <InlineField
              label="Tags"
              labelWidth={has('kind') ? undefined : LABEL_WIDTH}
              tooltip="Events carrying ANY of these tags; type to add a custom tag"
              grow
            >
              <MultiCombobox<string>
                id="feedback-tags"
                placeholder="Any tag"
                options={tagOptions}
                value={query.tags ?? []}
                createCustomValue
                isClearable
                onChange={(opts) => change({ tags: opts.map((o) => o.value) })}
              />
            </InlineField>
          )}
        </InlineFieldRow>
      )}

      {has('search') && (
        <InlineFieldRow>
          <InlineField
            label="Search"
            labelWidth={LABEL_WIDTH}
            tooltip="Free text matched in the comment (case-insensitive substring)"
            grow
          >
            <Input
              id="feedback-search"
              placeholder="Text in the comment"
              value={query.search ?? ''}
              onChange={(e: ChangeEvent<HTMLInputElement>) => edit({ search: e.target.value || undefined })}
              onBlur={onRunQuery}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {has('filters') && (
        <>
          {filters.map((filter, index) => {
            const n = index + 1;
            const ids = {
              key: `feedback-filter-key-${index}`,
              operator: `feedback-filter-operator-${index}`,
              value: `feedback-filter-value-${index}`,
            };
            return (
              <InlineFieldRow key={index}>
                <InlineLabel
                  width={LABEL_WIDTH}
                  transparent={index > 0}
                  tooltip={index === 0 ? 'Field conditions; all must hold. attributes.<key> works too.' : undefined}
                >
                  {index === 0 ? 'Filters' : ''}
                </InlineLabel>
                <HiddenLabel htmlFor={ids.key}>{`Filter ${n} field`}</HiddenLabel>
                <Combobox<string>
                  id={ids.key}
                  width={24}
                  placeholder="field"
                  options={filterKeyOptions}
                  value={filter.key || null}
                  createCustomValue
                  onChange={(o) => setFilter(index, { key: o.value }, true)}
                />
                <HiddenLabel htmlFor={ids.operator}>{`Filter ${n} operator`}</HiddenLabel>
                <Combobox<FilterOperator>
                  id={ids.operator}
                  width={8}
                  options={FILTER_OPERATORS}
                  value={filter.operator ?? '='}
                  onChange={(o) => setFilter(index, { operator: o.value }, true)}
                />
                <HiddenLabel htmlFor={ids.value}>{`Filter ${n} value`}</HiddenLabel>
                <SuggestInput
                  id={ids.value}
                  width={30}
                  placeholder={filter.operator === '=~' || filter.operator === '!~' ? 'regex' : 'value'}
                  value={filter.value ?? ''}
                  suggestionsKey={`${source}|${filter.key}|${from}|${to}`}
                  loadSuggestions={loadFieldValues(filter.key)}
                  onChange={(e: ChangeEvent<HTMLInputElement>) => setFilter(index, { value: e.target.value }, false)}
                  onBlur={onRunQuery}
                />
                <IconButton
                  name="trash-alt"
                  aria-label={`Remove filter ${n}`}
                  tooltip={`Remove filter ${n}`}
                  onClick={() => change({ filters: filters.filter((_, i) => i !== index) })}
                />
              </InlineFieldRow>
            );
          })}
          <InlineFieldRow>
            <Button
              variant="secondary"
              size="sm"
              icon="plus"
              onClick={() => edit({ filters: [...filters, { key: '', operator: '=', value: '' }] })}
            >
              Add filter
            </Button>
          </InlineFieldRow>
        </>
      )}

      {has('groupBy') && (
        <InlineFieldRow>
          <InlineField label="Group by" labelWidth={LABEL_WIDTH} tooltip="Dimensions of the breakdown/series" grow>
            <MultiCombobox<string>
              id="feedback-group-by"
              placeholder="No grouping"
              options={groupByOptions}
              value={query.groupBy ?? []}
              createCustomValue
              isClearable
              onChange={(opts) => change({ groupBy: opts.map((o) => o.value) })}
            />
          </InlineField>
          <InlineField
            label="Metric"
            tooltip="Count of events; count and share of the total; the share of negative feedback; or events per 1,000 model requests (Prometheus)"
          >
            <Combobox<string>
              id="feedback-metric"
              width={16}
              options={metricOptions}
              value={query.metric ?? DEFAULT_QUERY.metric!}
              onChange={(o) => change({ metric: o.value as FeedbackMetric })}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {has('baseline') && (
        <InlineFieldRow>
          <InlineField
            label="Baseline"
            labelWidth={LABEL_WIDTH}
            tooltip="Model version to compare against (a version in the time range, or a variable); empty: the previous version by first-seen time"
          >
            <SuggestInput
              id="feedback-baseline"
              width={30}
              placeholder="previous version"
              value={query.baseline ?? ''}
              suggestionsKey={`${source}|${modelIdFilter?.value ?? ''}|${from}|${to}`}
              loadSuggestions={loadVersions}
              onChange={(e: ChangeEvent<HTMLInputElement>) => edit({ baseline: e.target.value || undefined })}
              onBlur={onRunQuery}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {has('limit') && (
        <InlineFieldRow>
          <InlineField label="Limit" labelWidth={LABEL_WIDTH} tooltip={`Rows to return, at most ${MAX_LIMIT}`}>
            <Input
              id="feedback-limit"
              type="number"
              width={12}
              min={1}
              max={MAX_LIMIT}
              placeholder={String(DEFAULT_LIMIT)}
              value={query.limit ?? ''}
              onChange={onLimitChange}
              onBlur={onRunQuery}
            />
          </InlineField>
        </InlineFieldRow>
      )}

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
