import { AnnotationEvent, DataFrame, Field, FieldType } from '@grafana/data';

import { FeedbackQuery } from './types';

/** The default annotation query: escalations (set kind to `resolution` for fixes shipped). */
export const DEFAULT_ANNOTATION_QUERY: Partial<FeedbackQuery> = { queryType: 'feedback', kind: 'escalation' };

function fieldByName(frame: DataFrame, name: string): Field | undefined {
  return frame.fields.find((f) => f.name === name);
}

function toTime(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value : undefined;
  }
  if (value instanceof Date) {
    return value.getTime();
  }
  if (typeof value === 'string' && value !== '') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** The values of a `labels` cell: an object, or its JSON text. */
function labelValues(value: unknown): string[] {
  let labels = value;
  if (typeof labels === 'string') {
    try {
      labels = JSON.parse(labels);
    } catch {
      return [];
    }
  }
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) {
    return [];
  }
  return Object.values(labels as Record<string, unknown>)
    .filter((v) => v !== undefined && v !== null && v !== '')
    .map((v) => String(v));
}

/** A `tags` cell: the event's tags joined with ", " (or an array of them). */
function eventTags(value: unknown): string[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [];
  return list.map((t) => String(t).trim()).filter((t) => t !== '');
}

/**
 * Turns the `feedback` log-lines frames (docs/queries.md) into annotation events: `timestamp` → time, `body` → text,
 * the values of `labels` (kind, model_id, model_version, sentiment) and the event's `tags` → tags. `id` is not
 * mapped: Grafana de-duplicates annotations by id, and two escalations of one feedback item share its id.
 * Frames without a time field are skipped.
 */
export function feedbackFramesToAnnotations(frames: DataFrame[]): AnnotationEvent[] {
  const events: AnnotationEvent[] = [];
  for (const frame of frames) {
    const time = fieldByName(frame, 'timestamp') ?? frame.fields.find((f) => f.type === FieldType.time);
    if (!time) {
      continue;
    }
    const body = fieldByName(frame, 'body');
    const labels = fieldByName(frame, 'labels');
    const tags = fieldByName(frame, 'tags');
    for (let i = 0; i < frame.length; i++) {
      const t = toTime(time.values[i]);
      if (t === undefined) {
        continue;
      }
      const eventTagsList = [...labelValues(labels?.values[i]), ...eventTags(tags?.values[i])];
      events.push({
        time: t,
        text: body?.values[i] === undefined || body?.values[i] === null ? '' : String(body.values[i]),
        tags: [...new Set(eventTagsList)],
      });
    }
  }
  return events;
}
