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
import { DataSourceWithBackend, getTemplateSrv } from '@grafana/runtime';
import { of } from 'rxjs';

import { DEFAULT_ANNOTATION_QUERY, feedbackFramesToAnnotations } from './annotations';
import { interpolateList, interpolateQuery } from './interpolation';
import { addFilter, hasFilter, toggleFilter } from './queryFilters';
import {
  DEFAULT_QUERY,
  DEFAULT_SOURCE,
  FeedbackDataSourceOptions,
  FeedbackQuery,
  FeedbackSource,
  ResourceParams,
  ResourcePath,
} from './types';
import { FeedbackVariableSupport } from './variableSupport';
import { parseVariableQuery } from './variables';

export { escapeRegex } from './interpolation';

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
