import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

// The value lists below are the runtime source of the unions; types.model.test.ts holds them against
// src/generated/query-model.json, which the Go query model writes (go run ./pkg/cmd/modelgen).

/** What a query asks for (docs/queries.md). */
export const QUERY_TYPE_VALUES = [
  'breakdown',
  'timeseries',
  'feedback',
  'trace',
  'versions',
  'clusters',
  'reviews',
] as const;
export type FeedbackQueryType = (typeof QUERY_TYPE_VALUES)[number];

/** Where feedback events are read from. */
export const SOURCE_VALUES = ['loki', 'elasticsearch'] as const;
export type FeedbackSource = (typeof SOURCE_VALUES)[number];

/** Event kinds stored by the collector. */
export const KIND_VALUES = ['feedback', 'interaction', 'review', 'escalation', 'resolution', 'notification'] as const;
export type FeedbackKind = (typeof KIND_VALUES)[number];

export const SENTIMENT_VALUES = ['positive', 'negative', 'neutral'] as const;
/** '' is "any sentiment". */
export type FeedbackSentiment = '' | (typeof SENTIMENT_VALUES)[number];

export const METRIC_VALUES = [
  'count',
  'share',
  'negative_rate',
  'per_1k_requests',
  'edit_rate',
  'edit_similarity',
  'edit_length_ratio',
] as const;
export type FeedbackMetric = (typeof METRIC_VALUES)[number];

export const FILTER_OPERATOR_VALUES = ['=', '!=', '=~', '!~'] as const;
export type FilterOperator = (typeof FILTER_OPERATOR_VALUES)[number];

export interface FeedbackFilter {
  key: string;
  operator: FilterOperator;
  value: string;
}

/**
 * A panel target (docs/queries.md). Every field is optional in stored JSON: absent fields take the defaults
 * below (or, for `source`, the data source's configured `defaultSource`).
 */
export interface FeedbackQuery extends DataQuery {
  queryType?: FeedbackQueryType;
  source?: FeedbackSource;
  kind?: FeedbackKind;
  sentiment?: FeedbackSentiment;
  /** Events carrying ANY of these tags. */
  tags?: string[];
  filters?: FeedbackFilter[];
  /** Free text matched in the comment (case-insensitive substring). */
  search?: string;
  /** breakdown/timeseries dimensions. */
  groupBy?: string[];
  metric?: FeedbackMetric;
  /** For queryType trace. */
  correlationId?: string;
  /** Model version to compare against (versions); absent: the previous version by first-seen time. */
  baseline?: string;
  /** Rows for feedback/reviews. */
  limit?: number;
}

/**
 * The keys of FeedbackQuery this plugin owns (DataQuery's own keys aside; queryType is ours). `satisfies` makes tsc
 * fail when a key is added to or removed from FeedbackQuery without this list following.
 */
export const QUERY_FIELDS = {
  queryType: true,
  source: true,
  kind: true,
  sentiment: true,
  tags: true,
  filters: true,
  search: true,
  groupBy: true,
  metric: true,
  correlationId: true,
  baseline: true,
  limit: true,
} as const satisfies Record<Exclude<keyof FeedbackQuery, Exclude<keyof DataQuery, 'queryType'>>, true>;

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 5000;

export const DEFAULT_QUERY: Partial<FeedbackQuery> = {
  queryType: 'breakdown',
  kind: 'feedback',
  groupBy: ['model_version'],
  metric: 'count',
  limit: DEFAULT_LIMIT,
};

export interface Option<T extends string> {
  value: T;
  label: string;
  description?: string;
}

export const QUERY_TYPES: Array<Option<FeedbackQueryType>> = [
  { value: 'breakdown', label: 'Breakdown', description: 'Counts per group-by dimension, sorted by count' },
  { value: 'timeseries', label: 'Time series', description: 'One series per group-by value over time' },
  { value: 'feedback', label: 'Feedback', description: 'The feedback events as log lines' },
  { value: 'trace', label: 'Trace', description: 'Everything recorded for one correlation id' },
  { value: 'versions', label: 'Versions', description: 'Per model version: requests, negative rate, verdict' },
  { value: 'clusters', label: 'Clusters', description: 'Clusters of similar comments' },
  { value: 'reviews', label: 'Reviews', description: 'Feedback flagged for expert review and not yet reviewed' },
];

export const SOURCES: Array<Option<FeedbackSource>> = [
  { value: 'loki', label: 'Loki' },
  { value: 'elasticsearch', label: 'Elasticsearch' },
];

export const DEFAULT_SOURCE: FeedbackSource = 'loki';

export const KINDS: Array<Option<FeedbackKind>> = [
  { value: 'feedback', label: 'Feedback' },
  { value: 'interaction', label: 'Interaction' },
  { value: 'review', label: 'Review' },
  { value: 'escalation', label: 'Escalation' },
  { value: 'resolution', label: 'Resolution' },
  { value: 'notification', label: 'Notification' },
];

export const SENTIMENTS: Array<Option<FeedbackSentiment>> = [
  { value: '', label: 'Any' },
  { value: 'positive', label: 'Positive' },
  { value: 'negative', label: 'Negative' },
  { value: 'neutral', label: 'Neutral' },
];

export const METRICS: Array<Option<FeedbackMetric>> = [
  { value: 'count', label: 'Count', description: 'Number of events' },
  { value: 'share', label: 'Share', description: 'Count and share of the total' },
  {
    value: 'negative_rate',
    label: 'Negative rate',
    description: 'Share of negative feedback among all feedback (kind feedback, any sentiment)',
  },
  {
    value: 'per_1k_requests',
    label: 'Per 1k requests',
    description: 'Events per 1,000 model requests (needs the Prometheus requests query)',
  },
  {
    value: 'edit_rate',
    label: 'Edit rate',
    description: 'Edit feedback (source edit) per interaction: how often users rewrite answers',
  },
  {
    value: 'edit_similarity',
    label: 'Edit similarity',
    description: 'Mean edit.similarity of edit feedback (1: the answer was kept)',
  },
  {
    value: 'edit_length_ratio',
    label: 'Edit length ratio',
    description: 'Mean edited ÷ original characters of edit feedback: below 1, users shorten answers',
  },
];

export const FILTER_OPERATORS: Array<Option<FilterOperator>> = [
  { value: '=', label: '=', description: 'Equals' },
  { value: '!=', label: '!=', description: 'Does not equal' },
  { value: '=~', label: '=~', description: 'Matches regex' },
  { value: '!~', label: '!~', description: 'Does not match regex' },
];

/** The feedback taxonomy (reason tags). */
export const TAXONOMY_TAGS = [
  'hallucination',
  'factually_incorrect',
  'formatting_error',
  'latency',
  'bias',
  'offensive',
  'harmful',
  'not_helpful',
  'other',
] as const;

/** Prefix of free-form attribute fields: `attributes.<key>`. */
export const ATTRIBUTES_PREFIX = 'attributes.';

/** Prefix of generation parameters: `params.<key>` (e.g. `params.temperature`), from `context.params`. */
export const PARAMS_PREFIX = 'params.';

/** Fields usable in `filters` and `groupBy`. */
export const GROUP_BY_FIELDS = [
  'model_id',
  'model_version',
  'sentiment',
  'reason',
  'tag',
  'severity',
  'source',
  'user_role',
  'user_geo',
  'prompt_version',
  'effective_version',
] as const;

/** Fields usable in `filters` only. */
export const FILTER_ONLY_FIELDS = ['correlation_id', 'feedback_id', 'user_id'] as const;

export const FILTER_FIELDS: readonly string[] = [...GROUP_BY_FIELDS, ...FILTER_ONLY_FIELDS];

/** Resource paths served by the backend (docs/queries.md). Each answers a sorted JSON array of strings. */
export type ResourcePath = 'model-ids' | 'model-versions' | 'tags' | 'fields' | 'field-values';

export interface ResourceParams {
  source?: string;
  /** epoch ms */
  from?: number;
  /** epoch ms */
  to?: number;
  model_id?: string;
  field?: string;
}

export interface LokiSettings {
  url?: string;
  selector?: string;
  tenant?: string;
  basicAuthUser?: string;
}

export interface ElasticsearchSettings {
  url?: string;
  index?: string;
  timeField?: string;
  basicAuthUser?: string;
}

export interface PrometheusSettings {
  url?: string;
  requestsQuery?: string;
  latencyQuery?: string;
  basicAuthUser?: string;
}

export interface TraceSettings {
  executionLogsQuery?: string;
  tempoDatasourceUid?: string;
}

/** Where reviews recorded in Grafana are sent (docs/review.md). */
export interface FeedbackdSettings {
  url?: string;
}

/** Grouping comments by meaning (docs/embeddings.md); without embeddingsUrl, by words. */
export interface ClustersSettings {
  embeddingsUrl?: string;
  embeddingsModel?: string;
}

/** jsonData (docs/configuration.md). */
export interface FeedbackDataSourceOptions extends DataSourceJsonData {
  defaultSource?: FeedbackSource;
  loki?: LokiSettings;
  elasticsearch?: ElasticsearchSettings;
  prometheus?: PrometheusSettings;
  trace?: TraceSettings;
  feedbackd?: FeedbackdSettings;
  clusters?: ClustersSettings;
}

/** secureJsonData: sent to the backend, never returned to the browser. */
export interface FeedbackSecureJsonData {
  lokiPassword?: string;
  lokiToken?: string;
  elasticsearchPassword?: string;
  elasticsearchApiKey?: string;
  prometheusPassword?: string;
  prometheusToken?: string;
  feedbackdToken?: string;
  embeddingsToken?: string;
}

/** Backend defaults shown as placeholders (docs/configuration.md). */
export const CONFIG_DEFAULTS = {
  lokiSelector: '{service_name="model-feedback"}',
  elasticsearchIndex: 'model-feedback-*',
  elasticsearchTimeField: 'timestamp',
  prometheusRequestsQuery: 'sum by (model_version) (increase(llm_requests_total[$__range]))',
} as const;

/** The resources a template variable can list (docs/queries.md). */
export type VariableResource = 'model-ids' | 'model-versions' | 'tags' | 'field-values';

/**
 * A template variable's query (the variable editor's model). `modelId` (for model-versions), `field` (for
 * field-values) and `source` may contain template variables, e.g. `$model_id`.
 */
export interface FeedbackVariableQuery {
  resource: VariableResource;
  modelId?: string;
  field?: string;
  source?: string;
}

/** A variable query as Grafana stores it for CustomVariableSupport (a DataQuery; older/provisioned ones may be text). */
export type FeedbackVariableDataQuery = DataQuery & Partial<FeedbackVariableQuery>;

export const VARIABLE_RESOURCES: Array<Option<VariableResource>> = [
  { value: 'model-ids', label: 'Model IDs', description: 'Every model.id with events in the time range' },
  {
    value: 'model-versions',
    label: 'Model versions',
    description: 'Every model.version in the time range, optionally of one model id',
  },
  { value: 'tags', label: 'Tags', description: 'Every tag used in the time range' },
  { value: 'field-values', label: 'Field values', description: 'The values of one field in the time range' },
];

/** Query settings that only some query types use. */
export type QueryOptionKey =
  'kind' | 'sentiment' | 'tags' | 'filters' | 'search' | 'groupBy' | 'metric' | 'correlationId' | 'baseline' | 'limit';

export const QUERY_OPTION_KEYS: readonly QueryOptionKey[] = [
  'kind',
  'sentiment',
  'tags',
  'filters',
  'search',
  'groupBy',
  'metric',
  'correlationId',
  'baseline',
  'limit',
];

/** The settings each query type uses (the editor shows only these; `source` applies to all). */
export const QUERY_TYPE_OPTIONS: Record<FeedbackQueryType, readonly QueryOptionKey[]> = {
  breakdown: ['kind', 'sentiment', 'tags', 'filters', 'search', 'groupBy', 'metric'],
  timeseries: ['kind', 'sentiment', 'tags', 'filters', 'search', 'groupBy', 'metric'],
  feedback: ['kind', 'sentiment', 'tags', 'filters', 'search', 'limit'],
  trace: ['correlationId'],
  versions: ['filters', 'baseline', 'tags'],
  clusters: ['sentiment', 'tags', 'filters', 'search', 'limit'],
  reviews: ['filters', 'search', 'limit'],
};

/** Known values of enumerated fields, offered before (and besides) the ones found in the data. */
export const KNOWN_FIELD_VALUES: Record<string, readonly string[]> = {
  sentiment: SENTIMENT_VALUES,
  severity: ['info', 'warning', 'critical'],
  source: ['thumbs', 'modal', 'edit', 'survey', 'api', 'reviewer'],
  reason: TAXONOMY_TAGS,
  tag: TAXONOMY_TAGS,
};
