import React, { ChangeEvent, useMemo, useState } from 'react';
import { QueryEditorProps } from '@grafana/data';
import { Combobox, ComboboxOption, InlineField, InlineFieldRow, RadioButtonGroup, Stack, Text } from '@grafana/ui';

import type { DataSource } from '../datasource';
import {
  FeedbackDataSourceOptions,
  FeedbackQuery,
  FeedbackVariableDataQuery,
  FeedbackVariableQuery,
  FILTER_FIELDS,
  VARIABLE_RESOURCES,
  VariableResource,
} from '../types';
import { DEFAULT_VARIABLE_QUERY, describeVariableQuery, parseVariableQuery } from '../variables';
import {
  DEFAULT_SOURCE_VALUE,
  lookupRange,
  uniq,
  useResourceValues,
  useSourceOptions,
  variableNames,
} from './editorSupport';
import { SuggestInput } from './SuggestInput';

/** The props Grafana passes to a CustomVariableSupport editor. */
export type VariableQueryEditorProps = QueryEditorProps<
  DataSource,
  FeedbackQuery,
  FeedbackDataSourceOptions,
  FeedbackVariableDataQuery
>;

const LABEL_WIDTH = 14;
/** Grafana stores a variable query as a DataQuery. */
const REF_ID = 'FeedbackVariableQuery';

/** Keeps only the parameters the resource uses. */
function clean(query: FeedbackVariableQuery): FeedbackVariableQuery {
  const out: FeedbackVariableQuery = { resource: query.resource };
  if (query.resource === 'model-versions' && query.modelId) {
    out.modelId = query.modelId;
  }
  if (query.resource === 'field-values' && query.field) {
    out.field = query.field;
  }
  if (query.source) {
    out.source = query.source;
  }
  return out;
}

/**
 * Variable query: which resource (docs/queries.md) lists the values — model ids, model versions (optionally of one model
 * id, e.g. `$model_id`, so that a version variable depends on a model variable), tags, or the values of one field.
 */
export function VariableQueryEditor({ query: stored, onChange, datasource, range }: VariableQueryEditorProps) {
  // Older or provisioned variables may store the query as text.
  const raw: unknown = stored;
  const refId = (typeof raw === 'object' && raw !== null && (raw as { refId?: string }).refId) || REF_ID;
  const storedKey = typeof raw === 'string' ? raw : JSON.stringify(raw ?? null);
  const parse = () => parseVariableQuery(raw) ?? DEFAULT_VARIABLE_QUERY;
  const [query, setQuery] = useState<FeedbackVariableQuery>(parse);
  // Follow changes made elsewhere (e.g. the dashboard JSON), compared by value.
  const [syncedKey, setSyncedKey] = useState(storedKey);
  if (syncedKey !== storedKey) {
    setSyncedKey(storedKey);
    setQuery(parse());
  }

  const variables = useMemo(() => variableNames(), []);
  // The look-ups for suggestions cover the dashboard's time range (minute-rounded, so that they are not redone on
  // every render of a relative range).
  const { from, to } = lookupRange(range);
  const fetchedFields = useResourceValues(
    datasource,
    'fields',
    query.source,
    from,
    to,
    query.resource === 'field-values'
  );

  const fieldOptions = useMemo<Array<ComboboxOption<string>>>(
    () =>
      uniq([...FILTER_FIELDS, ...fetchedFields, ...(query.field ? [query.field] : []), ...variables]).map((f) => ({
        value: f,
        label: f,
      })),
    [fetchedFields, query.field, variables]
  );
  const sourceOptions = useSourceOptions(datasource.defaultSource);

  /** Saves the query (Grafana then refreshes the variable's preview). */
  const commit = (next: FeedbackVariableQuery) => {
    const cleaned = clean(next);
    setQuery(cleaned);
    onChange({ refId, ...cleaned });
  };

  const loadModelIds = async () => {
    let ids: string[] = [];
    try {
      ids = await datasource.fetchValues('model-ids', { source: query.source, from, to });
    } catch {
      // Suggestions only.
    }
    return uniq([...variables, ...ids]);
  };

  return (
    <Stack direction="column" gap={0}>
      <InlineFieldRow>
        <InlineField label="Values of" labelWidth={LABEL_WIDTH} tooltip="Which values the variable lists">
          <Combobox<VariableResource>
            id="variable-resource"
            width={24}
            options={VARIABLE_RESOURCES}
            value={query.resource}
            onChange={(o) => commit({ ...query, resource: o.value })}
          />
        </InlineField>
        <InlineField label="Source" tooltip="Where the values are looked up">
          <RadioButtonGroup<string>
            id="variable-source"
            options={sourceOptions}
            value={query.source ?? DEFAULT_SOURCE_VALUE}
            onChange={(v) => commit({ ...query, source: v || undefined })}
          />
        </InlineField>
      </InlineFieldRow>

      {query.resource === 'model-versions' && (
        <InlineFieldRow>
          <InlineField
            label="Model ID"
            labelWidth={LABEL_WIDTH}
            tooltip="Only the versions of this model id; a variable such as $model_id makes this variable depend on it. Empty: every model."
          >
            <SuggestInput
              id="variable-model-id"
              width={30}
              placeholder="any model, or $model_id"
              value={query.modelId ?? ''}
              suggestionsKey={`${query.source ?? ''}|${from}|${to}`}
              loadSuggestions={loadModelIds}
              onChange={(e: ChangeEvent<HTMLInputElement>) => setQuery({ ...query, modelId: e.target.value })}
              onBlur={() => commit(query)}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      {query.resource === 'field-values' && (
        <InlineFieldRow>
          <InlineField
            label="Field"
            labelWidth={LABEL_WIDTH}
            tooltip="The field whose values are listed, e.g. user_geo or attributes.<key>; type to use another one"
          >
            <Combobox<string>
              id="variable-field"
              width={30}
              placeholder="field"
              options={fieldOptions}
              value={query.field || null}
              createCustomValue
              onChange={(o) => commit({ ...query, field: o.value })}
            />
          </InlineField>
        </InlineFieldRow>
      )}

      <Text color="secondary" variant="bodySmall">
        {`Values of ${describeVariableQuery(clean(query))} in the dashboard's time range`}
      </Text>
    </Stack>
  );
}
