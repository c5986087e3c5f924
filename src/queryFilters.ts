import { FeedbackFilter, FeedbackQuery } from './types';

/**
 * Log-frame field / label names (docs/queries.md, the `feedback` frame and its `labels`) → the query's filter field.
 * Anything else (body, id, kind, timestamp, …) cannot be expressed as a filter row.
 */
const LOG_FIELD_TO_FILTER_KEY: Record<string, string> = {
  model_id: 'model_id',
  model_version: 'model_version',
  sentiment: 'sentiment',
  reason: 'reason',
  severity: 'severity',
  correlation_id: 'correlation_id',
  tags: 'tag',
  tag: 'tag',
};

export type FilterDirection = 'in' | 'out';

/** The filter rows a log-frame field's value stands for; empty when it cannot be a filter. */
export function filterRowsFor(field: string | undefined, value: string | undefined): FeedbackFilter[] {
  const key = field ? LOG_FIELD_TO_FILTER_KEY[field] : undefined;
  if (!key || value === undefined || value === null) {
    return [];
  }
  if (key === 'tag') {
    // The frame's `tags` field joins the event's tags with ", ": one row per tag.
    return value
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '')
      .map((t): FeedbackFilter => ({ key, operator: '=', value: t }));
  }
  if (value === '') {
    return [];
  }
  return [{ key, operator: '=', value }];
}

function withOperator(row: FeedbackFilter, direction: FilterDirection): FeedbackFilter {
  return { ...row, operator: direction === 'in' ? '=' : '!=' };
}

function sameCondition(a: FeedbackFilter, b: FeedbackFilter): boolean {
  return a.key === b.key && a.operator === b.operator && a.value === b.value;
}

function opposite(row: FeedbackFilter): FeedbackFilter {
  return { ...row, operator: row.operator === '=' ? '!=' : '=' };
}

/** A trace query has no filters: nothing to modify. */
function hasFilters(query: FeedbackQuery): boolean {
  return query.queryType !== 'trace';
}

/**
 * Adds `field = value` (in) or `field != value` (out) as filter rows. An identical row is not added twice and the
 * opposite row (same field and value, the other operator) is replaced. Unknown fields leave the query unchanged.
 */
export function addFilter(
  query: FeedbackQuery,
  field: string | undefined,
  value: string | undefined,
  direction: FilterDirection
): FeedbackQuery {
  const rows = filterRowsFor(field, value).map((r) => withOperator(r, direction));
  if (rows.length === 0 || !hasFilters(query)) {
    return query;
  }
  let filters = [...(query.filters ?? [])];
  let changed = false;
  for (const row of rows) {
    const withoutOpposite = filters.filter((f) => !sameCondition(f, opposite(row)));
    changed = changed || withoutOpposite.length !== filters.length;
    filters = withoutOpposite;
    if (!filters.some((f) => sameCondition(f, row))) {
      filters.push(row);
      changed = true;
    }
  }
  return changed ? { ...query, filters } : query;
}

/** True when every row `field = value` stands for is in the query (with `=`). */
export function hasFilter(query: FeedbackQuery, field: string | undefined, value: string | undefined): boolean {
  const rows = filterRowsFor(field, value);
  const filters = query.filters ?? [];
  return rows.length > 0 && rows.every((row) => filters.some((f) => sameCondition(f, row)));
}

/**
 * Explore's toggle: when the filter is present (in that direction) it is removed, otherwise it is added, replacing
 * the opposite one.
 */
export function toggleFilter(
  query: FeedbackQuery,
  field: string | undefined,
  value: string | undefined,
  direction: FilterDirection
): FeedbackQuery {
  const rows = filterRowsFor(field, value).map((r) => withOperator(r, direction));
  const filters = query.filters ?? [];
  const present = rows.length > 0 && rows.every((row) => filters.some((f) => sameCondition(f, row)));
  if (!present) {
    return addFilter(query, field, value, direction);
  }
  return { ...query, filters: filters.filter((f) => !rows.some((row) => sameCondition(f, row))) };
}
