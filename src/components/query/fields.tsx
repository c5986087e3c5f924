import React, { ChangeEvent } from 'react';
import { css } from '@emotion/css';
import {
  Button,
  Combobox,
  IconButton,
  InlineField,
  InlineFieldRow,
  InlineLabel,
  Input,
  MultiCombobox,
} from '@grafana/ui';

import {
  DEFAULT_LIMIT,
  DEFAULT_QUERY,
  FeedbackFilter,
  FeedbackKind,
  FeedbackMetric,
  FeedbackSentiment,
  FILTER_OPERATORS,
  FilterOperator,
  KINDS,
  KNOWN_FIELD_VALUES,
  MAX_LIMIT,
  SENTIMENTS,
} from '../../types';
import { uniq } from '../editorSupport';
import { SuggestInput } from '../SuggestInput';
import { LABEL_WIDTH, SectionProps } from './context';

// The controls the sections are made of, one per query setting (or pair of settings sharing a row).

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

function HiddenLabel({ htmlFor, children }: { htmlFor: string; children: string }) {
  return (
    <label htmlFor={htmlFor} className={hiddenLabelClass}>
      {children}
    </label>
  );
}

export function CorrelationIdField({ ctx }: SectionProps) {
  return (
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
          value={ctx.query.correlationId ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) => ctx.edit({ correlationId: e.target.value })}
          onBlur={ctx.onRunQuery}
        />
      </InlineField>
    </InlineFieldRow>
  );
}

/** Which events: the kind, sentiment and tags a section uses, on one row. */
export function EventsRow({ ctx, kind, sentiment }: SectionProps & { kind?: boolean; sentiment?: boolean }) {
  const { query, change } = ctx;
  return (
    <InlineFieldRow>
      {kind && (
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
      {sentiment && (
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
      <InlineField
        label="Tags"
        labelWidth={kind ? undefined : LABEL_WIDTH}
        tooltip="Events carrying ANY of these tags; type to add a custom tag"
        grow
      >
        <MultiCombobox<string>
          id="feedback-tags"
          placeholder="Any tag"
          options={ctx.tagOptions}
          value={query.tags ?? []}
          createCustomValue
          isClearable
          onChange={(opts) => change({ tags: opts.map((o) => o.value) })}
        />
      </InlineField>
    </InlineFieldRow>
  );
}

export function SearchField({ ctx }: SectionProps) {
  return (
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
          value={ctx.query.search ?? ''}
          onChange={(e: ChangeEvent<HTMLInputElement>) => ctx.edit({ search: e.target.value || undefined })}
          onBlur={ctx.onRunQuery}
        />
      </InlineField>
    </InlineFieldRow>
  );
}

export function FiltersField({ ctx }: SectionProps) {
  const { query, change, edit, datasource, source, from, to, variables } = ctx;
  const filters = query.filters ?? [];
  const setFilter = (index: number, patch: Partial<FeedbackFilter>, run: boolean) => {
    const next = filters.map((f, i) => (i === index ? { ...f, ...patch } : f));
    if (run) {
      change({ filters: next });
    } else {
      edit({ filters: next });
    }
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

  return (
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
              options={ctx.filterKeyOptions}
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
              onBlur={ctx.onRunQuery}
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
  );
}

export function GroupByMetricRow({ ctx }: SectionProps) {
  const { query, change } = ctx;
  return (
    <InlineFieldRow>
      <InlineField
        label="Group by"
        labelWidth={LABEL_WIDTH}
        tooltip="Dimensions of the breakdown/series, e.g. model_version, prompt_version or a generation parameter such as params.temperature"
        grow
      >
        <MultiCombobox<string>
          id="feedback-group-by"
          placeholder="No grouping"
          options={ctx.groupByOptions}
          value={query.groupBy ?? []}
          createCustomValue
          isClearable
          onChange={(opts) => change({ groupBy: opts.map((o) => o.value) })}
        />
      </InlineField>
      <InlineField
        label="Metric"
        tooltip="Count of events; count and share of the total; the share of negative feedback; events per 1,000 model requests (Prometheus); or, from edit feedback, the edit rate, mean similarity and mean length ratio"
      >
        <Combobox<string>
          id="feedback-metric"
          width={16}
          options={ctx.metricOptions}
          value={query.metric ?? DEFAULT_QUERY.metric!}
          onChange={(o) => change({ metric: o.value as FeedbackMetric })}
        />
      </InlineField>
    </InlineFieldRow>
  );
}

export function BaselineField({ ctx }: SectionProps) {
  const { query, datasource, source, from, to, variables } = ctx;
  /** Suggestions: the versions in the time range (of the filtered model id, if one). */
  const modelIdFilter = (query.filters ?? []).find(
    (f) => f.key === 'model_id' && (f.operator ?? '=') === '=' && f.value
  );
  const loadVersions = async () => {
    let fetched: string[] = [];
    try {
      fetched = await datasource.fetchValues('model-versions', { source, from, to, model_id: modelIdFilter?.value });
    } catch {
      // Suggestions only.
    }
    return uniq([...fetched, ...variables]);
  };
  return (
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
          onChange={(e: ChangeEvent<HTMLInputElement>) => ctx.edit({ baseline: e.target.value || undefined })}
          onBlur={ctx.onRunQuery}
        />
      </InlineField>
    </InlineFieldRow>
  );
}

export function LimitField({ ctx }: SectionProps) {
  const onLimitChange = (event: ChangeEvent<HTMLInputElement>) => {
    const n = parseInt(event.target.value, 10);
    ctx.edit({ limit: Number.isFinite(n) ? Math.min(Math.max(n, 1), MAX_LIMIT) : undefined });
  };
  return (
    <InlineFieldRow>
      <InlineField label="Limit" labelWidth={LABEL_WIDTH} tooltip={`Rows to return, at most ${MAX_LIMIT}`}>
        <Input
          id="feedback-limit"
          type="number"
          width={12}
          min={1}
          max={MAX_LIMIT}
          placeholder={String(DEFAULT_LIMIT)}
          value={ctx.query.limit ?? ''}
          onChange={onLimitChange}
          onBlur={ctx.onRunQuery}
        />
      </InlineField>
    </InlineFieldRow>
  );
}
