import { DataSourceInstanceSettings, ScopedVars, TypedVariableModel } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

import { DataSource, escapeRegex } from './datasource';
import { FeedbackDataSourceOptions, FeedbackQuery } from './types';

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
