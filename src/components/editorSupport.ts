import { useEffect, useMemo, useState } from 'react';
import { TimeRange } from '@grafana/data';
import { getTemplateSrv } from '@grafana/runtime';

import type { DataSource } from '../datasource';
import { FeedbackSource, SOURCES } from '../types';

/** What both editors share: variables, the time range of look-ups, the source choice and resource look-ups. */

const MINUTE = 60_000;

/** The source radio's value for "the data source's default source". */
export const DEFAULT_SOURCE_VALUE = '';

/** `$name` for each dashboard variable, offered in the pickers. */
export function variableNames(): string[] {
  try {
    return getTemplateSrv()
      .getVariables()
      .map((v) => `$${v.name}`);
  } catch {
    return [];
  }
}

/** The values in first-seen order, without duplicates and empties. */
export function uniq(values: Array<string | undefined>): string[] {
  const seen = new Set<string>();
  for (const v of values) {
    if (v) {
      seen.add(v);
    }
  }
  return [...seen];
}

/**
 * The dashboard's range for look-ups, rounded out to whole minutes so that a relative range does not redo them on
 * every render.
 */
export function lookupRange(range?: TimeRange): { from?: number; to?: number } {
  return {
    from: range ? Math.floor(range.from.valueOf() / MINUTE) * MINUTE : undefined,
    to: range ? Math.ceil(range.to.valueOf() / MINUTE) * MINUTE : undefined,
  };
}

/** The source radio's options: the default source (named) and each source. */
export function useSourceOptions(defaultSource: FeedbackSource) {
  return useMemo(
    () => [
      {
        value: DEFAULT_SOURCE_VALUE,
        label: 'Default',
        description: `The data source's default source (${defaultSource})`,
      },
      ...SOURCES,
    ],
    [defaultSource]
  );
}

/** Loads values from a resource endpoint for the source and range while enabled; [] when the look-up fails. */
export function useResourceValues(
  datasource: DataSource,
  path: 'tags' | 'fields',
  source: string | undefined,
  from?: number,
  to?: number,
  enabled = true
): string[] {
  const [values, setValues] = useState<string[]>([]);
  useEffect(() => {
    if (!enabled) {
      return;
    }
    let cancelled = false;
    datasource
      .fetchValues(path, { source, from, to })
      .then((result) => !cancelled && setValues(result))
      // The editors fall back to the static lists; the query itself reports backend errors.
      .catch(() => !cancelled && setValues([]));
    return () => {
      cancelled = true;
    };
  }, [datasource, path, source, from, to, enabled]);
  return values;
}
