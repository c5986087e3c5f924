import { ScopedVars } from '@grafana/data';
import { TemplateSrv } from '@grafana/runtime';

import { FeedbackFilter, FeedbackQuery, FilterOperator } from './types';

// Template variables are resolved by Grafana's TemplateSrv.replace; the format callbacks below only decide how a
// variable's value(s) are written: as an escaped regex alternation, or as several list entries.

const ALL_VALUE = '$__all';

/**
 * Escapes every character that is special in a regex, in RE2 (LogQL) as well as in Lucene regexp
 * (Elasticsearch), so that the value matches itself literally. Both engines accept a backslash in front of any
 * of these characters.
 */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$.|?*+()[\]{}"#@&<>~/]/g, '\\$&');
}

interface LooseVariable {
  name?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string | null;
  current?: { value?: unknown };
  options?: Array<{ value?: unknown }>;
}

/** One variable reference as TemplateSrv.replace resolved it. */
interface Occurrence {
  values: string[];
  /** Multi-value / include-all variable (or an array value): its values are alternatives. */
  multi: boolean;
  /** "All" selected on a variable with a custom all value: the value to use where a regex is wanted. */
  customAll?: string;
}

function toStrings(value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v) => v !== undefined && v !== null).map((v) => String(v));
}

function isAllSelected(value: unknown): boolean {
  return value === ALL_VALUE || (Array.isArray(value) && value.includes(ALL_VALUE));
}

/**
 * TemplateSrv inserts a custom all value (e.g. `.*`) verbatim, without calling the format callback. Where the
 * caller needs every value (list entries) or must tell the all value from literal text (an `=` filter turning into
 * a regex), such variables are passed as scoped vars holding their options, so that the callback sees them; the
 * returned map names their custom all values.
 */
function customAllScopes(
  templateSrv: TemplateSrv,
  scopedVars: ScopedVars | undefined
): { vars: ScopedVars; customAll: Map<string, string> } {
  const vars: ScopedVars = { ...scopedVars };
  const customAll = new Map<string, string>();
  for (const variable of (templateSrv.getVariables?.() ?? []) as unknown as LooseVariable[]) {
    const name = variable.name;
    if (!name || scopedVars?.[name] || !variable.allValue || !isAllSelected(variable.current?.value)) {
      continue;
    }
    const values = (variable.options ?? [])
      .map((o) => o.value)
      .filter((v): v is string => typeof v === 'string' && v !== ALL_VALUE);
    vars[name] = { text: 'All', value: values };
    customAll.set(name, variable.allValue);
  }
  return { vars, customAll };
}

/** Resolves every variable reference of `target`, in order, without building a string. */
function occurrences(target: string, scopedVars: ScopedVars | undefined, templateSrv: TemplateSrv): Occurrence[] {
  const { vars, customAll } = customAllScopes(templateSrv, scopedVars);
  const found: Occurrence[] = [];
  templateSrv.replace(target, vars, (value: unknown, variable?: LooseVariable) => {
    found.push({
      values: toStrings(value),
      multi: Array.isArray(value) || !!variable?.multi || !!variable?.includeAll,
      customAll: variable?.name ? customAll.get(variable.name) : undefined,
    });
    return '';
  });
  return found;
}

/** `target` with the i-th variable reference written as write(occurrence i). */
function rewrite(
  target: string,
  scopedVars: ScopedVars | undefined,
  templateSrv: TemplateSrv,
  write: (index: number) => string
): string {
  const { vars } = customAllScopes(templateSrv, scopedVars);
  let i = 0;
  return templateSrv.replace(target, vars, () => write(i++));
}

/** The regex format: a multi-value variable becomes an alternation of its escaped values. */
function regexFormat(value: unknown, variable?: LooseVariable): string {
  const values = toStrings(value);
  const multi = Array.isArray(value) || !!variable?.multi || !!variable?.includeAll;
  return multi ? alternation(values) : values.join('');
}

function alternation(values: string[]): string {
  return values.map(escapeRegex).join('|');
}

function isRegexOperator(operator: FilterOperator): boolean {
  return operator === '=~' || operator === '!~';
}

/**
 * A character TemplateSrv never produces from a query, standing for a variable while the literal text of an `=`
 * filter is escaped: the callbacks cannot see the text between references, only the result can be cut at them.
 */
const SLOT = '\u0000';

/**
 * Interpolates a filter. With `=~`/`!~` a multi-value variable becomes an alternation of regex-escaped values (a
 * custom all value stays as it is). With `=`/`!=` a variable with several values (or a custom "All" value) turns
 * the filter into `=~`/`!~`, the literal text around it is regex-escaped and the values become an escaped
 * alternation.
 */
export function interpolateFilter(
  filter: FeedbackFilter,
  scopedVars: ScopedVars | undefined,
  templateSrv: TemplateSrv
): FeedbackFilter {
  const key = templateSrv.replace(filter.key ?? '', scopedVars);
  const raw = filter.value ?? '';
  const operator = filter.operator ?? '=';
  if (isRegexOperator(operator)) {
    return { ...filter, key, operator, value: templateSrv.replace(raw, scopedVars, regexFormat) };
  }

  const found = occurrences(raw, scopedVars, templateSrv);
  if (!found.some((o) => o.customAll !== undefined || o.values.length > 1)) {
    return { ...filter, key, operator, value: rewrite(raw, scopedVars, templateSrv, (i) => found[i].values.join('')) };
  }
  if (raw.includes(SLOT)) {
    throw new Error(`filter ${key}: the value contains a NUL character`);
  }
  const literals = rewrite(raw, scopedVars, templateSrv, () => SLOT).split(SLOT);
  const alone = found.length === 1 && literals.every((l) => l === '');
  let value = escapeRegex(literals[0]);
  found.forEach((o, i) => {
    if (o.customAll !== undefined) {
      value += o.customAll;
    } else if (o.values.length > 1 && !alone) {
      value += `(${alternation(o.values)})`;
    } else {
      value += alternation(o.values);
    }
    value += escapeRegex(literals[i + 1] ?? '');
  });
  return { ...filter, key, operator: operator === '!=' ? '!~' : '=~', value };
}

/**
 * Interpolates each entry of a list; an entry with a multi-value variable becomes one entry per value
 * (e.g. `$tag` with [bias, latency] → ['bias', 'latency']; two such variables give every combination). Empty
 * results are dropped, duplicates removed.
 */
export function interpolateList(
  entries: string[],
  scopedVars: ScopedVars | undefined,
  templateSrv: TemplateSrv
): string[] {
  const out: string[] = [];
  for (const entry of entries) {
    const found = occurrences(entry, scopedVars, templateSrv);
    let combinations: string[][] = [[]];
    for (const o of found) {
      combinations = combinations.flatMap((c) => o.values.map((v) => [...c, v]));
    }
    for (const combination of combinations) {
      const r = rewrite(entry, scopedVars, templateSrv, (i) => combination[i]);
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
