import fs from 'fs';
import path from 'path';

import {
  ATTRIBUTES_PREFIX,
  PARAMS_PREFIX,
  DEFAULT_LIMIT,
  DEFAULT_QUERY,
  DEFAULT_SOURCE,
  FILTER_ONLY_FIELDS,
  FILTER_OPERATOR_VALUES,
  FILTER_OPERATORS,
  GROUP_BY_FIELDS,
  KIND_VALUES,
  KINDS,
  KNOWN_FIELD_VALUES,
  MAX_LIMIT,
  METRIC_VALUES,
  METRICS,
  QUERY_FIELDS,
  QUERY_OPTION_KEYS,
  QUERY_TYPE_OPTIONS,
  QUERY_TYPE_VALUES,
  QUERY_TYPES,
  SENTIMENT_VALUES,
  SENTIMENTS,
  SOURCE_VALUES,
  SOURCES,
  TAXONOMY_TAGS,
} from './types';

// The Go query model as `go run ./pkg/cmd/modelgen` writes it; a Go test keeps the file current.
interface QueryModel {
  queryTypes: string[];
  sources: string[];
  kinds: string[];
  sentiments: string[];
  metrics: string[];
  filterOperators: string[];
  queryFields: string[];
  groupByFields: string[];
  filterOnlyFields: string[];
  attributesPrefix: string;
  paramsPrefix: string;
  fieldValues: Record<string, string[]>;
  taxonomy: string[];
  defaults: { queryType: string; source: string; kind: string; metric: string; limit: number };
  limits: { minLimit: number; maxLimit: number };
}

const model: QueryModel = JSON.parse(fs.readFileSync(path.join(__dirname, 'generated', 'query-model.json'), 'utf8'));

// Order is the editor's choice (the UI lists feedback before interaction), membership is the contract.
const sorted = (list: readonly string[]) => [...list].sort();

describe('TypeScript query types agree with the Go query model', () => {
  it.each([
    ['queryTypes', QUERY_TYPE_VALUES, model.queryTypes],
    ['sources', SOURCE_VALUES, model.sources],
    ['kinds', KIND_VALUES, model.kinds],
    ['sentiments', SENTIMENT_VALUES, model.sentiments],
    ['metrics', METRIC_VALUES, model.metrics],
    ['filterOperators', FILTER_OPERATOR_VALUES, model.filterOperators],
    ['queryFields', Object.keys(QUERY_FIELDS), model.queryFields],
    ['groupByFields', GROUP_BY_FIELDS, model.groupByFields],
    ['filterOnlyFields', FILTER_ONLY_FIELDS, model.filterOnlyFields],
    ['taxonomy', TAXONOMY_TAGS, model.taxonomy],
  ])('%s', (_name, ts, go) => {
    expect(sorted(ts)).toEqual(sorted(go));
  });

  it('offers an option for every value and no other', () => {
    expect(QUERY_TYPES.map((o) => o.value)).toEqual([...QUERY_TYPE_VALUES]);
    expect(SOURCES.map((o) => o.value)).toEqual([...SOURCE_VALUES]);
    expect(KINDS.map((o) => o.value)).toEqual([...KIND_VALUES]);
    expect(SENTIMENTS.map((o) => o.value)).toEqual(['', ...SENTIMENT_VALUES]);
    expect(METRICS.map((o) => o.value)).toEqual([...METRIC_VALUES]);
    expect(FILTER_OPERATORS.map((o) => o.value)).toEqual([...FILTER_OPERATOR_VALUES]);
  });

  it('gives every query type its options, all of them target fields', () => {
    expect(sorted(Object.keys(QUERY_TYPE_OPTIONS))).toEqual(sorted(model.queryTypes));
    const optionFields = Object.keys(QUERY_FIELDS).filter((k) => k !== 'queryType' && k !== 'source');
    expect(sorted(QUERY_OPTION_KEYS)).toEqual(sorted(optionFields));
  });

  it('has the same defaults and limits', () => {
    expect(DEFAULT_QUERY.queryType).toBe(model.defaults.queryType);
    expect(DEFAULT_QUERY.kind).toBe(model.defaults.kind);
    expect(DEFAULT_QUERY.metric).toBe(model.defaults.metric);
    expect(DEFAULT_LIMIT).toBe(model.defaults.limit);
    expect(DEFAULT_SOURCE).toBe(model.defaults.source);
    expect(MAX_LIMIT).toBe(model.limits.maxLimit);
    expect(ATTRIBUTES_PREFIX).toBe(model.attributesPrefix);
    expect(PARAMS_PREFIX).toBe(model.paramsPrefix);
  });

  it('knows the same field values', () => {
    expect(sorted(Object.keys(KNOWN_FIELD_VALUES))).toEqual(sorted(Object.keys(model.fieldValues)));
    for (const [field, values] of Object.entries(model.fieldValues)) {
      expect([field, sorted(KNOWN_FIELD_VALUES[field])]).toEqual([field, sorted(values)]);
    }
  });
});
