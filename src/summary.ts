import {
  DEFAULT_LIMIT,
  DEFAULT_QUERY,
  FeedbackFilter,
  FeedbackKind,
  FeedbackQuery,
  FeedbackSource,
  METRICS,
  QUERY_TYPE_OPTIONS,
  SOURCES,
} from './types';

const KIND_NOUNS: Record<FeedbackKind, string> = {
  feedback: 'feedback',
  interaction: 'interactions',
  review: 'reviews',
  escalation: 'escalations',
  resolution: 'resolutions',
  notification: 'notifications',
};

function sourceLabel(source: string): string {
  return SOURCES.find((s) => s.value === source)?.label ?? source;
}

function metricLabel(metric: string): string {
  const known = METRICS.find((m) => m.value === metric);
  return known ? known.label.toLowerCase() : metric;
}

function subject(query: FeedbackQuery, withKind: boolean): string {
  const kind = query.kind ?? DEFAULT_QUERY.kind!;
  const noun = withKind ? (KIND_NOUNS[kind as FeedbackKind] ?? kind) : 'feedback';
  return query.sentiment ? `${query.sentiment} ${noun}` : noun;
}

function describeFilter(f: FeedbackFilter): string {
  return `${f.key} ${f.operator ?? '='} ${f.value === '' ? '""' : f.value}`;
}

/** The conditions that narrow the events down, as short phrases. */
function conditions(query: FeedbackQuery): string[] {
  const options = QUERY_TYPE_OPTIONS[query.queryType ?? DEFAULT_QUERY.queryType!] ?? [];
  const out: string[] = [];
  if (options.includes('tags') && query.tags?.length) {
    out.push(`tagged ${query.tags.join(' or ')}`);
  }
  if (options.includes('filters')) {
    out.push(...(query.filters ?? []).filter((f) => f.key).map(describeFilter));
  }
  if (options.includes('search') && query.search) {
    out.push(`comment contains "${query.search}"`);
  }
  return out;
}

/**
 * A one-line, human-readable description of what a query will run, e.g.
 * "Breakdown of negative feedback by model_version × tag, share, from Loki". Computed locally: no backend call.
 */
export function describeQuery(query: FeedbackQuery, defaultSource: FeedbackSource): string {
  const queryType = query.queryType ?? DEFAULT_QUERY.queryType!;
  const from = sourceLabel(query.source || defaultSource);
  const limit = query.limit ?? DEFAULT_LIMIT;
  const metric = metricLabel(query.metric ?? DEFAULT_QUERY.metric!);
  const dims = (query.groupBy ?? []).join(' × ');

  let text: string;
  switch (queryType) {
    case 'breakdown':
      text = `Breakdown of ${subject(query, true)} ${dims ? `by ${dims}` : 'as one total'}, ${metric}, from ${from}`;
      break;
    case 'timeseries':
      text = `Time series of ${subject(query, true)}${dims ? ` by ${dims}` : ''}, ${metric}, from ${from}`;
      break;
    case 'feedback': {
      const what = subject(query, true);
      text = `Latest ${limit} ${what}${(query.kind ?? 'feedback') === 'feedback' ? ' events' : ''} from ${from}`;
      break;
    }
    case 'trace':
      return query.correlationId?.trim()
        ? `Trace of correlation id ${query.correlationId.trim()}: snapshot, feedback and execution logs, from ${from}`
        : 'Trace: enter a correlation id';
    case 'versions':
      text = `Model versions compared with ${
        query.baseline ? `baseline ${query.baseline}` : 'the previous version'
      }: feedback from ${from}, requests from Prometheus`;
      break;
    case 'clusters':
      text = `Up to ${limit} clusters of similar ${subject(query, false)} comments from ${from}`;
      break;
    case 'reviews':
      text = `Review queue: up to ${limit} feedback items awaiting expert review, from ${from}`;
      break;
    default:
      text = `${queryType} from ${from}`;
  }
  const where = conditions({ ...query, queryType });
  return where.length > 0 ? `${text} (${where.join(', ')})` : text;
}

/** Settings the backend will reject together, explained before the query runs. */
export function queryWarnings(query: FeedbackQuery): string[] {
  const queryType = query.queryType ?? DEFAULT_QUERY.queryType!;
  if (!QUERY_TYPE_OPTIONS[queryType]?.includes('metric') || query.metric !== 'negative_rate') {
    return [];
  }
  const warnings: string[] = [];
  if (query.sentiment) {
    warnings.push('Negative rate is computed over all sentiments: set Sentiment to Any.');
  }
  if ((query.kind ?? 'feedback') !== 'feedback') {
    warnings.push('Negative rate applies to kind Feedback only.');
  }
  if (query.groupBy?.includes('sentiment')) {
    warnings.push('Negative rate already splits by sentiment: remove sentiment from Group by.');
  }
  return warnings;
}
