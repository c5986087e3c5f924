import {
  createDataFrame,
  DataQueryRequest,
  DataSourceInstanceSettings,
  dateTime,
  Field,
  FieldType,
  ScopedVars,
  TypedVariableModel,
  VariableSupportType,
} from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';
import { lastValueFrom } from 'rxjs';

import { DataSource, escapeRegex } from './datasource';
import { FeedbackDataSourceOptions, FeedbackQuery, FeedbackVariableDataQuery } from './types';
import { FeedbackVariableSupport } from './variableSupport';

interface FakeVariable {
  name: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  current: { value: string | string[] };
  options?: Array<{ value: string }>;
}

const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}/g;

/**
 * Mimics Grafana's TemplateSrv: scoped vars first, "All" expands to every option (or a custom all value that is
 * inserted verbatim without a formatter), a function format is called with (value, variable, defaultFormatter), and
 * the default format of a multi value is a glob `{a,b}`.
 */
class FakeTemplateSrv implements TemplateSrv {
  constructor(private readonly variables: FakeVariable[]) {}

  getVariables(): TypedVariableModel[] {
    return this.variables as unknown as TypedVariableModel[];
  }

  containsTemplate(target?: string): boolean {
    return !!target && !!target.match(VARIABLE_REGEX);
  }

  updateTimeRange(): void {}

  replace(target?: string, scopedVars?: ScopedVars, format?: string | Function): string {
    if (!target) {
      return target ?? '';
    }
    return target.replace(VARIABLE_REGEX, (match, var1, var2, fmt2, var3, _path, fmt3) => {
      const name = var1 || var2 || var3;
      const fmt = fmt2 || fmt3 || format;
      const scoped = scopedVars?.[name];
      if (scoped) {
        return this.format(scoped.value, fmt, { name });
      }
      const variable = this.variables.find((v) => v.name === name);
      if (!variable) {
        return match;
      }
      let value: unknown = variable.current.value;
      if (value === '$__all' || (Array.isArray(value) && value.includes('$__all'))) {
        if (variable.allValue) {
          return variable.allValue;
        }
        value = (variable.options ?? []).map((o) => o.value).filter((v) => v !== '$__all');
      }
      return this.format(value, fmt, variable);
    });
  }

  private format(value: unknown, fmt: string | Function | undefined, variable: object): string {
    const glob = (v: unknown) =>
      Array.isArray(v) ? (v.length > 1 ? `{${v.join(',')}}` : String(v[0] ?? '')) : String(v);
    if (typeof fmt === 'function') {
      return fmt(value, variable, glob);
    }
    if (fmt === 'csv') {
      return Array.isArray(value) ? value.join(',') : String(value);
    }
    return glob(value);
  }
}

let templateSrv: FakeTemplateSrv;

jest.mock('@grafana/runtime', () => ({
  ...jest.requireActual('@grafana/runtime'),
  getTemplateSrv: () => templateSrv,
}));

const settings = {
  id: 1,
  uid: 'fb',
  type: 'feedbackloop-modelfeedback-datasource',
  name: 'Feedback Loop',
  access: 'proxy',
  readOnly: false,
  jsonData: { defaultSource: 'elasticsearch' },
  meta: {},
} as unknown as DataSourceInstanceSettings<FeedbackDataSourceOptions>;

const variables: FakeVariable[] = [
  { name: 'src', current: { value: 'elasticsearch' } },
  { name: 'kind', current: { value: 'review' } },
  { name: 'sent', current: { value: 'negative' } },
  { name: 'text', current: { value: 'too slow' } },
  { name: 'cid', current: { value: 'abc-123' } },
  { name: 'base', current: { value: 'v1.2.0' } },
  { name: 'metric', current: { value: 'share' } },
  { name: 'field', current: { value: 'model_version' } },
  { name: 'attr', current: { value: 'plan' } },
  { name: 'version', multi: true, current: { value: ['v1.2', 'v2|beta', 'say "hi"', 'C:\\path'] } },
  { name: 'one', multi: true, current: { value: ['v1.2'] } },
  { name: 'single', current: { value: 'v3.0' } },
  { name: 'tag', multi: true, current: { value: ['bias', 'latency'] } },
  { name: 'dims', multi: true, current: { value: ['tag', 'user_geo'] } },
  {
    name: 'allTags',
    multi: true,
    includeAll: true,
    current: { value: ['$__all'] },
    options: [{ value: '$__all' }, { value: 'bias' }, { value: 'harmful' }],
  },
  {
    name: 'allCustom',
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { value: '$__all' },
    options: [{ value: '$__all' }, { value: 'v1' }, { value: 'v2' }],
  },
];

const base: FeedbackQuery = { refId: 'A' };

describe('escapeRegex', () => {
  it('escapes regex metacharacters, quotes and backslashes', () => {
    expect(escapeRegex('a.b|c"d\\e')).toBe('a\\.b\\|c\\"d\\\\e');
    expect(escapeRegex('(x)+[y]*{z}?^$')).toBe('\\(x\\)\\+\\[y\\]\\*\\{z\\}\\?\\^\\$');
    expect(escapeRegex('plain-text_1')).toBe('plain-text_1');
  });
});

describe('DataSource.applyTemplateVariables', () => {
  let ds: DataSource;
  beforeEach(() => {
    templateSrv = new FakeTemplateSrv(variables);
    ds = new DataSource(settings);
  });

  it('interpolates every scalar string field', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        queryType: 'versions',
        source: '$src' as FeedbackQuery['source'],
        kind: '${kind}' as FeedbackQuery['kind'],
        sentiment: '[[sent]]' as FeedbackQuery['sentiment'],
        search: 'comment: $text',
        metric: '$metric' as FeedbackQuery['metric'],
        correlationId: '$cid',
        baseline: '$base',
        limit: 10,
      },
      {}
    );
    expect(out).toEqual({
      refId: 'A',
      queryType: 'versions',
      source: 'elasticsearch',
      kind: 'review',
      sentiment: 'negative',
      search: 'comment: too slow',
      metric: 'share',
      correlationId: 'abc-123',
      baseline: 'v1.2.0',
      limit: 10,
    });
  });

  it('does not add fields the query did not have', () => {
    expect(ds.applyTemplateVariables({ ...base, queryType: 'breakdown' }, {})).toEqual({
      refId: 'A',
      queryType: 'breakdown',
    });
  });

  it('prefers scoped vars', () => {
    const out = ds.applyTemplateVariables(
      { ...base, correlationId: '$cid' },
      { cid: { text: 'x', value: 'scoped-1' } }
    );
    expect(out.correlationId).toBe('scoped-1');
  });

  it('interpolates filter keys and single values', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        filters: [
          { key: '$field', operator: '=', value: '$single' },
          { key: 'attributes.$attr', operator: '!=', value: 'pro-$single' },
          { key: 'model_version', operator: '=~', value: '$single.*' },
          { key: 'model_version', operator: '=', value: '$one' },
          { key: 'user_id', operator: '=', value: 'literal' },
        ],
      },
      {}
    );
    expect(out.filters).toEqual([
      { key: 'model_version', operator: '=', value: 'v3.0' },
      { key: 'attributes.plan', operator: '!=', value: 'pro-v3.0' },
      { key: 'model_version', operator: '=~', value: 'v3.0.*' },
      // a multi-value variable with one value selected stays an equality
      { key: 'model_version', operator: '=', value: 'v1.2' },
      { key: 'user_id', operator: '=', value: 'literal' },
    ]);
  });

  it('expands a multi-value variable in a regex filter to an alternation of escaped values', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        filters: [
          { key: 'model_version', operator: '=~', value: '$version' },
          { key: 'model_version', operator: '!~', value: '^(${version})$' },
          { key: 'model_version', operator: '=~', value: '$one' },
        ],
      },
      {}
    );
    const alt = 'v1\\.2|v2\\|beta|say \\"hi\\"|C:\\\\path';
    expect(out.filters).toEqual([
      { key: 'model_version', operator: '=~', value: alt },
      { key: 'model_version', operator: '!~', value: `^(${alt})$` },
      { key: 'model_version', operator: '=~', value: 'v1\\.2' },
    ]);
    // the alternation matches exactly the selected values
    const re = new RegExp(`^(?:${out.filters![0].value})$`);
    for (const v of ['v1.2', 'v2|beta', 'say "hi"', 'C:\\path']) {
      expect(re.test(v)).toBe(true);
    }
    expect(re.test('v1x2')).toBe(false);
    expect(re.test('v2')).toBe(false);
  });

  it('turns = / != with several values into =~ / !~ with an escaped alternation', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        filters: [
          { key: 'model_version', operator: '=', value: '$version' },
          { key: 'model_version', operator: '!=', value: '${version}' },
          { key: 'attributes.plan', operator: '=', value: 'pro.$tag' },
        ],
      },
      {}
    );
    expect(out.filters).toEqual([
      { key: 'model_version', operator: '=~', value: 'v1\\.2|v2\\|beta|say \\"hi\\"|C:\\\\path' },
      { key: 'model_version', operator: '!~', value: 'v1\\.2|v2\\|beta|say \\"hi\\"|C:\\\\path' },
      // literal text around the variable is escaped too, the alternation grouped
      { key: 'attributes.plan', operator: '=~', value: 'pro\\.(bias|latency)' },
    ]);
  });

  it('handles All: every option without a custom all value, the custom all value as a regex otherwise', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        filters: [
          { key: 'tag', operator: '=', value: '$allTags' },
          { key: 'tag', operator: '=~', value: '$allTags' },
          { key: 'model_version', operator: '=', value: '$allCustom' },
          { key: 'model_version', operator: '!~', value: '$allCustom' },
        ],
        tags: ['$allTags'],
        groupBy: ['$allCustom'],
      },
      {}
    );
    expect(out.filters).toEqual([
      { key: 'tag', operator: '=~', value: 'bias|harmful' },
      { key: 'tag', operator: '=~', value: 'bias|harmful' },
      { key: 'model_version', operator: '=~', value: '.*' },
      { key: 'model_version', operator: '!~', value: '.*' },
    ]);
    expect(out.tags).toEqual(['bias', 'harmful']);
    // a custom all value is never used as a list entry: the variable's options are
    expect(out.groupBy).toEqual(['v1', 'v2']);
  });

  it('expands multi-value variables in tags and groupBy into several entries', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        tags: ['$tag', 'harmful', 'bias'],
        groupBy: ['model_version', '${dims}', 'attributes.$attr', '$field'],
      },
      {}
    );
    expect(out.tags).toEqual(['bias', 'latency', 'harmful']);
    expect(out.groupBy).toEqual(['model_version', 'tag', 'user_geo', 'attributes.plan']);
  });

  it('expands scoped multi values and drops entries that interpolate to nothing', () => {
    const out = ds.applyTemplateVariables(
      { ...base, tags: ['$t', '$empty'] },
      { t: { text: 'a + b', value: ['a', 'b'] }, empty: { text: '', value: [] } }
    );
    expect(out.tags).toEqual(['a', 'b']);
  });

  it('drops filter rows without a field', () => {
    const out = ds.applyTemplateVariables(
      {
        ...base,
        filters: [
          { key: '', operator: '=', value: '' },
          { key: 'user_geo', operator: '=', value: '' },
        ],
      },
      {}
    );
    expect(out.filters).toEqual([{ key: 'user_geo', operator: '=', value: '' }]);
  });

  it('keeps an explicit variable format', () => {
    const out = ds.applyTemplateVariables({ ...base, search: '${tag:csv}' }, {});
    expect(out.search).toBe('bias,latency');
  });
});

describe('DataSource.filterQuery', () => {
  const ds = new DataSource(settings);

  it('drops hidden queries', () => {
    expect(ds.filterQuery({ ...base, queryType: 'breakdown', hide: true })).toBe(false);
    expect(ds.filterQuery({ ...base, queryType: 'breakdown' })).toBe(true);
    expect(ds.filterQuery({ ...base })).toBe(true);
  });

  it('drops a trace query without a correlation id', () => {
    expect(ds.filterQuery({ ...base, queryType: 'trace' })).toBe(false);
    expect(ds.filterQuery({ ...base, queryType: 'trace', correlationId: '  ' })).toBe(false);
    expect(ds.filterQuery({ ...base, queryType: 'trace', correlationId: '$cid' })).toBe(true);
  });
});

describe('DataSource defaults and resources', () => {
  beforeEach(() => {
    templateSrv = new FakeTemplateSrv(variables);
  });

  it('has the design defaults and the configured default source', () => {
    const ds = new DataSource(settings);
    expect(ds.getDefaultQuery('explore' as never)).toEqual({
      queryType: 'breakdown',
      kind: 'feedback',
      groupBy: ['model_version'],
      metric: 'count',
      limit: 100,
    });
    expect(ds.defaultSource).toBe('elasticsearch');
    expect(new DataSource({ ...settings, jsonData: {} }).defaultSource).toBe('loki');
  });

  it('fetchValues calls getResource with the defined, interpolated params and keeps strings only', async () => {
    const ds = new DataSource(settings);
    const getResource = jest.spyOn(ds, 'getResource').mockResolvedValue(['a', 'b', 3]);
    await expect(
      ds.fetchValues('model-versions', { source: 'loki', from: 1000, to: 2000, model_id: '$single', field: '' })
    ).resolves.toEqual(['a', 'b']);
    expect(getResource).toHaveBeenCalledWith('model-versions', {
      source: 'loki',
      from: 1000,
      to: 2000,
      model_id: 'v3.0',
    });

    getResource.mockResolvedValue({ error: 'nope' });
    await expect(ds.fetchValues('tags')).resolves.toEqual([]);
    expect(getResource).toHaveBeenLastCalledWith('tags', {});
  });
});

describe('DataSource.modifyQuery (Logs panel filter for / filter out)', () => {
  const ds = new DataSource(settings);
  const q: FeedbackQuery = {
    refId: 'A',
    queryType: 'feedback',
    filters: [{ key: 'model_id', operator: '=', value: 'bot' }],
  };
  const add = (query: FeedbackQuery, type: string, key: string, value: string) =>
    ds.modifyQuery(query, { type, options: { key, value } });

  it('supports ADD_FILTER and ADD_FILTER_OUT', () => {
    expect(ds.getSupportedQueryModifications()).toEqual(['ADD_FILTER', 'ADD_FILTER_OUT']);
  });

  it.each([
    ['model_version', 'v2', 'model_version'],
    ['sentiment', 'negative', 'sentiment'],
    ['reason', 'hallucination', 'reason'],
    ['correlation_id', 'abc-1', 'correlation_id'],
    ['severity', 'critical', 'severity'],
    ['model_id', 'other-bot', 'model_id'],
  ])('ADD_FILTER %s=%s adds a %s = row, ADD_FILTER_OUT a != row', (field, value, key) => {
    expect(add(q, 'ADD_FILTER', field, value).filters).toEqual([...q.filters!, { key, operator: '=', value }]);
    expect(add(q, 'ADD_FILTER_OUT', field, value).filters).toEqual([...q.filters!, { key, operator: '!=', value }]);
  });

  it('maps the tags field to one tag row per tag', () => {
    expect(add({ refId: 'A' }, 'ADD_FILTER', 'tags', 'bias, latency').filters).toEqual([
      { key: 'tag', operator: '=', value: 'bias' },
      { key: 'tag', operator: '=', value: 'latency' },
    ]);
    expect(add({ refId: 'A' }, 'ADD_FILTER_OUT', 'tags', 'bias').filters).toEqual([
      { key: 'tag', operator: '!=', value: 'bias' },
    ]);
    // an event without tags: nothing to filter on
    expect(add(q, 'ADD_FILTER', 'tags', '')).toBe(q);
  });

  it('does not duplicate an identical row and replaces the opposite one', () => {
    expect(add(q, 'ADD_FILTER', 'model_id', 'bot')).toBe(q);
    expect(add(q, 'ADD_FILTER_OUT', 'model_id', 'bot').filters).toEqual([
      { key: 'model_id', operator: '!=', value: 'bot' },
    ]);
  });

  it('returns the query unchanged for unknown fields, other actions and trace queries', () => {
    expect(add(q, 'ADD_FILTER', 'body', 'hello')).toBe(q);
    expect(add(q, 'ADD_FILTER', 'kind', 'feedback')).toBe(q);
    expect(add(q, 'ADD_FILTER', 'id', '01H')).toBe(q);
    expect(add(q, 'ADD_STRING_FILTER', 'model_version', 'v2')).toBe(q);
    expect(ds.modifyQuery(q, { type: 'ADD_FILTER' })).toBe(q);
    const trace: FeedbackQuery = { refId: 'A', queryType: 'trace', correlationId: 'c' };
    expect(add(trace, 'ADD_FILTER', 'model_version', 'v2')).toBe(trace);
  });

  it('toggleQueryFilter adds, then removes, and swaps the direction; queryHasFilter reports it', () => {
    const on = ds.toggleQueryFilter(q, { type: 'FILTER_FOR', options: { key: 'sentiment', value: 'negative' } });
    expect(on.filters).toEqual([...q.filters!, { key: 'sentiment', operator: '=', value: 'negative' }]);
    expect(ds.queryHasFilter(on, { key: 'sentiment', value: 'negative' })).toBe(true);
    expect(ds.queryHasFilter(q, { key: 'sentiment', value: 'negative' })).toBe(false);

    const out = ds.toggleQueryFilter(on, { type: 'FILTER_OUT', options: { key: 'sentiment', value: 'negative' } });
    expect(out.filters).toEqual([...q.filters!, { key: 'sentiment', operator: '!=', value: 'negative' }]);
    expect(ds.queryHasFilter(out, { key: 'sentiment', value: 'negative' })).toBe(false);

    const off = ds.toggleQueryFilter(out, { type: 'FILTER_OUT', options: { key: 'sentiment', value: 'negative' } });
    expect(off.filters).toEqual(q.filters);
  });
});

describe('DataSource.metricFindQuery (template variables)', () => {
  let ds: DataSource;
  let getResource: jest.SpyInstance;
  const range = { from: dateTime(1_000_000), to: dateTime(2_000_000), raw: { from: 'now-1h', to: 'now' } };

  beforeEach(() => {
    templateSrv = new FakeTemplateSrv(variables);
    ds = new DataSource(settings);
    getResource = jest.spyOn(ds, 'getResource').mockImplementation(async (path: string, params?: unknown) => {
      const p = params as Record<string, string>;
      if (path === 'model-versions') {
        return p.model_id ? [`${p.model_id}-b`, `${p.model_id}-a`] : ['x1', 'x2'];
      }
      if (path === 'field-values') {
        return [`${p.field}:1`];
      }
      return ['a', 'b'];
    });
  });

  it('calls the resource with the time range (epoch ms) and returns {text} values', async () => {
    await expect(ds.metricFindQuery({ refId: 'V', resource: 'model-ids' }, { range })).resolves.toEqual([
      { text: 'a' },
      { text: 'b' },
    ]);
    expect(getResource).toHaveBeenCalledWith('model-ids', { from: 1_000_000, to: 2_000_000 });

    await ds.metricFindQuery({ resource: 'tags', source: '$src' }, { range });
    expect(getResource).toHaveBeenLastCalledWith('tags', { source: 'elasticsearch', from: 1_000_000, to: 2_000_000 });
  });

  it('interpolates modelId, so a version variable can depend on $model_id', async () => {
    const values = await ds.metricFindQuery({ resource: 'model-versions', modelId: '$single' }, { range });
    expect(getResource).toHaveBeenCalledWith('model-versions', { from: 1_000_000, to: 2_000_000, model_id: 'v3.0' });
    expect(values).toEqual([{ text: 'v3.0-b' }, { text: 'v3.0-a' }]);

    // scoped vars win
    await ds.metricFindQuery(
      { resource: 'model-versions', modelId: '$single' },
      { scopedVars: { single: { text: 's', value: 'scoped' } } }
    );
    expect(getResource).toHaveBeenLastCalledWith('model-versions', { model_id: 'scoped' });
  });

  it('asks once per value of a multi-value model id and merges the answers sorted', async () => {
    const values = await ds.metricFindQuery({ resource: 'model-versions', modelId: '$tag' });
    expect(getResource).toHaveBeenCalledWith('model-versions', { model_id: 'bias' });
    expect(getResource).toHaveBeenCalledWith('model-versions', { model_id: 'latency' });
    expect(values.map((v) => v.text)).toEqual(['bias-a', 'bias-b', 'latency-a', 'latency-b']);
  });

  it('lists every version when the model id variable has no value', async () => {
    templateSrv = new FakeTemplateSrv([{ name: 'model_id', multi: true, current: { value: [] } }]);
    await expect(ds.metricFindQuery({ resource: 'model-versions', modelId: '$model_id' })).resolves.toEqual([
      { text: 'x1' },
      { text: 'x2' },
    ]);
    expect(getResource).toHaveBeenCalledWith('model-versions', {});
  });

  it('field-values interpolates the field and requires one', async () => {
    await expect(ds.metricFindQuery({ resource: 'field-values', field: '$field' })).resolves.toEqual([
      { text: 'model_version:1' },
    ]);
    expect(getResource).toHaveBeenCalledWith('field-values', { field: 'model_version' });
    await expect(ds.metricFindQuery({ resource: 'field-values' })).rejects.toThrow(/needs a field/);
  });

  it('accepts JSON text and a bare resource name; an empty query lists model ids; rejects others', async () => {
    await ds.metricFindQuery('{"resource":"model-versions","modelId":"bot"}');
    expect(getResource).toHaveBeenLastCalledWith('model-versions', { model_id: 'bot' });
    await ds.metricFindQuery('tags');
    expect(getResource).toHaveBeenLastCalledWith('tags', {});
    await ds.metricFindQuery('');
    expect(getResource).toHaveBeenLastCalledWith('model-ids', {});
    await expect(ds.metricFindQuery({ resource: 'fields' })).rejects.toThrow(/Not a Feedback Loop variable query/);
    await expect(ds.metricFindQuery('select 1')).rejects.toThrow(/Not a Feedback Loop variable query/);
  });

  it('is the query of the custom variable support, answering one frame with a text field', async () => {
    expect(ds.variables).toBeInstanceOf(FeedbackVariableSupport);
    const support = ds.variables as FeedbackVariableSupport;
    expect(support.getType()).toBe(VariableSupportType.Custom);
    const response = await lastValueFrom(
      support.query({
        targets: [{ refId: 'V', resource: 'model-versions', modelId: '$single' }],
        range,
        scopedVars: {},
      } as unknown as DataQueryRequest<FeedbackVariableDataQuery>)
    );
    expect(getResource).toHaveBeenCalledWith('model-versions', { from: 1_000_000, to: 2_000_000, model_id: 'v3.0' });
    const frame = response.data[0];
    expect(frame.fields.map((f: Field) => [f.name, f.type, f.values])).toEqual([
      ['text', FieldType.string, ['v3.0-b', 'v3.0-a']],
    ]);
  });
});

describe('DataSource annotations', () => {
  it('defaults to escalations from the feedback query and maps the log-lines frame to events', async () => {
    const ds = new DataSource(settings);
    expect(ds.annotations?.getDefaultQuery?.()).toEqual({ queryType: 'feedback', kind: 'escalation' });
    const frame = createDataFrame({
      fields: [
        { name: 'timestamp', type: FieldType.time, values: [1_700_000_000_000] },
        { name: 'body', type: FieldType.string, values: ['escalated to jira FB-1'] },
        { name: 'labels', type: FieldType.other, values: [{ kind: 'escalation', model_version: 'v2' }] },
        { name: 'tags', type: FieldType.string, values: ['bias'] },
        { name: 'id', type: FieldType.string, values: ['01H'] },
      ],
    });
    const events = await lastValueFrom(ds.annotations!.processEvents!({} as never, [frame]));
    expect(events).toEqual([
      { time: 1_700_000_000_000, text: 'escalated to jira FB-1', tags: ['escalation', 'v2', 'bias'] },
    ]);
  });
});
