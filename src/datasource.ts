import {
  CoreApp,
  DataSourceInstanceSettings,
  DataSourceWithQueryModificationSupport,
  DataSourceWithToggleableQueryFiltersSupport,
  LegacyMetricFindQueryOptions,
  MetricFindValue,
  QueryFilterOptions,
  QueryFixAction,
  QueryFixType,
  ScopedVars,
  ToggleFilterAction,
} from '@grafana/data';
import { DataSourceWithBackend, getTemplateSrv, TemplateSrv } from '@grafana/runtime';
import { of } from 'rxjs';

import { DEFAULT_ANNOTATION_QUERY, feedbackFramesToAnnotations } from './annotations';
import { addFilter, hasFilter, toggleFilter } from './queryFilters';
import {
  DEFAULT_QUERY,
  DEFAULT_SOURCE,
  FeedbackDataSourceOptions,
  FeedbackFilter,
  FeedbackQuery,
  FeedbackSource,
  FilterOperator,
  ResourceParams,
  ResourcePath,
} from './types';
import { FeedbackVariableSupport } from './variableSupport';
import { parseVariableQuery } from './variables';

/** The query modifications of the Logs panel / Explore log details that `modifyQuery` supports. */
const SUPPORTED_MODIFICATIONS: QueryFixType[] = ['ADD_FILTER', 'ADD_FILTER_OUT'];

export class DataSource
  extends DataSourceWithBackend<FeedbackQuery, FeedbackDataSourceOptions>
  implements
    DataSourceWithQueryModificationSupport<FeedbackQuery>,
    DataSourceWithToggleableQueryFiltersSupport<FeedbackQuery>
{
  /** The configured default source; used when a query has no `source`. */
  readonly defaultSource: FeedbackSource;

  constructor(instanceSettings: DataSourceInstanceSettings<FeedbackDataSourceOptions>) {
    super(instanceSettings);
    this.defaultSource = instanceSettings.jsonData?.defaultSource ?? DEFAULT_SOURCE;
    // Feedback events (by default escalations; kind resolution for shipped fixes) as dashboard annotations. The
    // standard annotation editor shows the query editor; the query runs as a normal `feedback` query.
    this.variables = new FeedbackVariableSupport(this);
    this.annotations = {
      getDefaultQuery: () => ({ ...DEFAULT_ANNOTATION_QUERY }),
      processEvents: (_annotation, frames) => of(feedbackFramesToAnnotations(frames)),
    };
  }

  getDefaultQuery(_: CoreApp): Partial<FeedbackQuery> {
    return DEFAULT_QUERY;
  }

  /** Hidden queries are not run; a trace query needs a correlation id. */
  filterQuery(query: FeedbackQuery): boolean {
    if (query.hide) {
      return false;
    }
    if (query.queryType === 'trace' && !query.correlationId?.trim()) {
      return false;
    }
    return true;
  }

  applyTemplateVariables(query: FeedbackQuery, scopedVars: ScopedVars): FeedbackQuery {
    return interpolateQuery(query, scopedVars, getTemplateSrv());
  }

  /**
   * Calls one of the backend's resource endpoints (docs/queries.md) and returns its array of strings.
   * Undefined/empty parameters are left out; string parameters are interpolated.
   */
  async fetchValues(path: ResourcePath, params: ResourceParams = {}): Promise<string[]> {
    const templateSrv = getTemplateSrv();
    const interpolated: ResourceParams = {};
    for (const [name, value] of Object.entries(params)) {
      interpolated[name as keyof ResourceParams] = typeof value === 'string' ? templateSrv.replace(value) : value;
    }
    return this.resourceValues(path, interpolated);
  }

  /** Calls a resource with parameters that are already interpolated; undefined/empty ones are left out. */
  private async resourceValues(path: ResourcePath, params: ResourceParams): Promise<string[]> {
    const query: Record<string, string | number> = {};
    for (const [name, value] of Object.entries(params)) {
      if (value === undefined || value === null || value === '') {
        continue;
      }
      query[name] = value;
    }
    const result = await this.getResource<unknown>(path, query);
    return Array.isArray(result) ? result.filter((v): v is string => typeof v === 'string') : [];
  }

  /**
   * Template variable values (docs/queries.md) for a variable query `{resource, modelId?, field?, source?}` (see
   * VariableQueryEditor), over the dashboard's time range. Variables in modelId/field/source are interpolated; a
   * multi-value modelId or field asks once per value and merges the answers.
   */
  async metricFindQuery(rawQuery: unknown, options?: LegacyMetricFindQueryOptions): Promise<MetricFindValue[]> {
    const query = parseVariableQuery(rawQuery);
    if (!query) {
      throw new Error(
        'Not a Feedback Loop variable query: expected {"resource": "model-ids" | "model-versions" | "tags" | "field-values", ...}'
      );
    }
    const templateSrv = getTemplateSrv();
    const scopedVars = options?.scopedVars;
    const base: ResourceParams = {};
    if (query.source) {
      base.source = templateSrv.replace(query.source, scopedVars);
    }
    if (options?.range) {
      base.from = options.range.from.valueOf();
      base.to = options.range.to.valueOf();
    }

    let requests: ResourceParams[] = [base];
    if (query.resource === 'model-versions' && query.modelId) {
      const ids = interpolateList([query.modelId], scopedVars, templateSrv);
      // No model id selected (yet): the versions of every model.
      requests = ids.length > 0 ? ids.map((model_id) => ({ ...base, model_id })) : [base];
    }
    if (query.resource === 'field-values') {
      const fields = query.field ? interpolateList([query.field], scopedVars, templateSrv) : [];
      if (fields.length === 0) {
        throw new Error('A field-values variable needs a field, e.g. model_version or attributes.<key>');
      }
      requests = fields.map((field) => ({ ...base, field }));
    }

    const answers = await Promise.all(requests.map((params) => this.resourceValues(query.resource, params)));
    const values = [...new Set(answers.flat())];
    if (answers.length > 1) {
      values.sort();
    }
    return values.map((text) => ({ text }));
  }

  /** The Logs panel's / Explore's "filter for value" and "filter out value" on a log line's field or label. */
  modifyQuery(query: FeedbackQuery, action: QueryFixAction): FeedbackQuery {
    const { key, value } = action.options ?? {};
    switch (action.type) {
      case 'ADD_FILTER':
        return addFilter(query, key, value, 'in');
      case 'ADD_FILTER_OUT':
        return addFilter(query, key, value, 'out');
      default:
        return query;
    }
  }

  getSupportedQueryModifications(): Array<QueryFixType | string> {
    return [...SUPPORTED_MODIFICATIONS];
  }

  /** Explore's toggleable filters: a second click removes the filter; the opposite filter is replaced. */
  toggleQueryFilter(query: FeedbackQuery, filter: ToggleFilterAction): FeedbackQuery {
    const { key, value } = filter.options;
    return toggleFilter(query, key, value, filter.type === 'FILTER_FOR' ? 'in' : 'out');
  }

  queryHasFilter(query: FeedbackQuery, filter: QueryFilterOptions): boolean {
    return hasFilter(query, filter.key, filter.value);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Template variable interpolation
// ---------------------------------------------------------------------------------------------------------------

/** The same variable syntax Grafana's TemplateSrv recognises: $var, [[var]], [[var:fmt]], ${var}, ${var.path:fmt}. */
const VARIABLE_REGEX = /\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\${(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?}/g;
const ALL_VALUE = '$__all';
/** Marks the place of an interpolated variable in the output of templateSrv.replace. */
const MARK = '\u0000';
const MARK_REGEX = /\u0000(\d+)\u0000/;

/**
 * Escapes every character that is special in a regex, in RE2 (LogQL) as well as in Lucene regexp
 * (Elasticsearch), so that the value matches itself literally. Both engines accept a backslash in front of any
 * of these characters.
 */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}"#@&<>~/]/g, '\\$&');
}

/** The value(s) a variable reference was replaced with. */
interface VariableValue {
  values: string[];
  /** The variable is multi-value / include-all (or the value came as an array). */
  multi: boolean;
  /** Set when "All" is selected and the variable has a custom all value (inserted verbatim, e.g. `.*`). */
  customAll?: string;
}

/** A string split into literal text and interpolated variables. */
type Piece = string | VariableValue;

interface LooseVariable {
  name?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  current?: { value?: unknown };
  options?: Array<{ value?: unknown }>;
}

function referencedVariables(target: string): string[] {
  const names = new Set<string>();
  for (const match of target.matchAll(VARIABLE_REGEX)) {
    const name = match[1] ?? match[2] ?? match[4];
    if (name) {
      names.add(name);
    }
  }
  return [...names];
}

function isAllSelected(value: unknown): boolean {
  return value === ALL_VALUE || (Array.isArray(value) && value.includes(ALL_VALUE));
}

/**
 * For a dashboard variable whose current value is "All" with a custom all value, TemplateSrv inserts the custom
 * value verbatim without calling a formatter. We look it up so that it can be told apart from literal text.
 */
function customAllSelection(templateSrv: TemplateSrv, name: string): VariableValue | undefined {
  const variables = (templateSrv.getVariables?.() ?? []) as unknown as LooseVariable[];
  const variable = variables.find((v) => v.name === name);
  if (!variable || !variable.allValue || !isAllSelected(variable.current?.value)) {
    return undefined;
  }
  const values = (variable.options ?? [])
    .map((o) => o.value)
    .filter((v): v is string => typeof v === 'string' && v !== ALL_VALUE);
  return { values, multi: true, customAll: variable.allValue };
}

function toStrings(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v) => v !== undefined && v !== null).map((v) => String(v));
}

/** Interpolates `target` and returns it as literal text pieces and variable values. */
function interpolatePieces(target: string, scopedVars: ScopedVars | undefined, templateSrv: TemplateSrv): Piece[] {
  if (!target || !target.match(VARIABLE_REGEX)) {
    return target ? [target] : [];
  }
  const found: VariableValue[] = [];
  const customAll = new Map<string, VariableValue>();
  const vars: ScopedVars = { ...scopedVars };
  for (const name of referencedVariables(target)) {
    if (scopedVars?.[name]) {
      continue;
    }
    const selection = customAllSelection(templateSrv, name);
    if (selection) {
      const token = `${MARK}all:${name}`;
      customAll.set(token, selection);
      vars[name] = { text: 'All', value: token };
    }
  }
  const formatter = (value: unknown, variable?: LooseVariable) => {
    const selection = typeof value === 'string' ? customAll.get(value) : undefined;
    found.push(
      selection ?? {
        values: toStrings(value),
        multi: Array.isArray(value) || !!variable?.multi || !!variable?.includeAll,
      }
    );
    return `${MARK}${found.length - 1}${MARK}`;
  };
  const parts = templateSrv.replace(target, vars, formatter).split(MARK_REGEX);
  const pieces: Piece[] = [];
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      pieces.push(found[Number(part)]);
    } else if (part !== '') {
      pieces.push(part);
    }
  });
  return pieces;
}

function alternation(values: string[]): string {
  return values.map(escapeRegex).join('|');
}

function isRegexOperator(operator: FilterOperator): boolean {
  return operator === '=~' || operator === '!~';
}

/**
 * Interpolates a filter. With `=~`/`!~` a multi-value variable becomes an alternation of regex-escaped values.
 * With `=`/`!=` a variable with several values (or a custom "All" value) turns the filter into `=~`/`!~`, the
 * literal text around it is regex-escaped and the values become an escaped alternation.
 */
export function interpolateFilter(
  filter: FeedbackFilter,
  scopedVars: ScopedVars | undefined,
  templateSrv: TemplateSrv
): FeedbackFilter {
  const key = templateSrv.replace(filter.key ?? '', scopedVars);
  const pieces = interpolatePieces(filter.value ?? '', scopedVars, templateSrv);
  const operator = filter.operator ?? '=';

  if (isRegexOperator(operator)) {
    const value = pieces
      .map((p) => {
        if (typeof p === 'string') {
          return p;
        }
        if (p.customAll !== undefined) {
          return p.customAll;
        }
        return p.multi ? alternation(p.values) : p.values.join('');
      })
      .join('');
    return { ...filter, key, operator, value };
  }

  const needsRegex = pieces.some((p) => typeof p !== 'string' && (p.customAll !== undefined || p.values.length > 1));
  if (!needsRegex) {
    const value = pieces.map((p) => (typeof p === 'string' ? p : p.values.join(''))).join('');
    return { ...filter, key, operator, value };
  }
  const alone = pieces.length === 1;
  const value = pieces
    .map((p) => {
      if (typeof p === 'string') {
        return escapeRegex(p);
      }
      if (p.customAll !== undefined) {
        return p.customAll;
      }
      if (p.values.length > 1 && !alone) {
        return `(${alternation(p.values)})`;
      }
      return alternation(p.values);
    })
    .join('');
  return { ...filter, key, operator: operator === '!=' ? '!~' : '=~', value };
}

/**
 * Interpolates each entry of a list; an entry with a multi-value variable becomes one entry per value
 * (e.g. `$tag` with [bias, latency] → ['bias', 'latency']). Empty results are dropped, duplicates removed.
 */
export function interpolateList(
  entries: string[],
  scopedVars: ScopedVars | undefined,
  templateSrv: TemplateSrv
): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    let results = [''];
    for (const piece of interpolatePieces(entry, scopedVars, templateSrv)) {
      if (typeof piece === 'string') {
        results = results.map((r) => r + piece);
      } else {
        results = results.flatMap((r) => piece.values.map((v) => r + v));
      }
    }
    for (const r of results) {
      if (r !== '' && !out.includes(r)) {
        out.push(r);
      }
    }
  }
  return out;
}

/** Interpolates every string field of a query. */
export function interpolateQuery(
  query: FeedbackQuery,
  scopedVars: ScopedVars | undefined,
  templateSrv: TemplateSrv
): FeedbackQuery {
  const str = <T extends string>(value: T | undefined): T | undefined =>
    value === undefined || value === null ? value : (templateSrv.replace(value, scopedVars) as T);

  const result: FeedbackQuery = {
    ...query,
    source: str(query.source) || undefined,
    kind: str(query.kind),
    sentiment: str(query.sentiment),
    search: str(query.search),
    metric: str(query.metric),
    correlationId: str(query.correlationId),
    baseline: str(query.baseline),
  };
  if (query.tags) {
    result.tags = interpolateList(query.tags, scopedVars, templateSrv);
  }
  if (query.groupBy) {
    result.groupBy = interpolateList(query.groupBy, scopedVars, templateSrv);
  }
  if (query.filters) {
    // A row the editor added but whose field is not chosen yet is not a condition.
    result.filters = query.filters
      .map((f) => interpolateFilter(f, scopedVars, templateSrv))
      .filter((f) => f.key.trim() !== '');
  }
  // Do not add keys the query did not have.
  for (const key of ['source', 'kind', 'sentiment', 'search', 'metric', 'correlationId', 'baseline'] as const) {
    if (result[key] === undefined) {
      delete result[key];
    }
  }
  return result;
}
