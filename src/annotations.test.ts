import { createDataFrame, FieldType } from '@grafana/data';

import { DEFAULT_ANNOTATION_QUERY, feedbackFramesToAnnotations } from './annotations';

describe('feedbackFramesToAnnotations', () => {
  it('maps timestamp → time, body → text, label values and tags → tags, for every row', () => {
    const frame = createDataFrame({
      name: 'feedback',
      fields: [
        { name: 'timestamp', type: FieldType.time, values: [1_700_000_060_000, 1_700_000_000_000] },
        { name: 'body', type: FieldType.string, values: ['escalated to jira FB-7', 'resolution r-1'] },
        { name: 'severity', type: FieldType.string, values: ['critical', 'info'] },
        { name: 'id', type: FieldType.string, values: ['01HA', ''] },
        {
          name: 'labels',
          type: FieldType.other,
          values: [
            { kind: 'escalation', model_id: 'bot', model_version: 'v2', sentiment: 'negative' },
            // JSON text is accepted too
            '{"kind":"resolution","model_id":"bot","model_version":"v3"}',
          ],
        },
        { name: 'correlation_id', type: FieldType.string, values: ['c1', ''] },
        { name: 'tags', type: FieldType.string, values: ['hallucination, bias', ''] },
      ],
    });
    expect(feedbackFramesToAnnotations([frame])).toEqual([
      {
        time: 1_700_000_060_000,
        text: 'escalated to jira FB-7',
        tags: ['escalation', 'bot', 'v2', 'negative', 'hallucination', 'bias'],
      },
      { time: 1_700_000_000_000, text: 'resolution r-1', tags: ['resolution', 'bot', 'v3'] },
    ]);
  });

  it('de-duplicates tags, accepts tag arrays and ISO times, and tolerates missing fields', () => {
    const frame = createDataFrame({
      fields: [
        { name: 'timestamp', type: FieldType.string, values: ['2026-11-01T10:00:00Z', 'not a time'] },
        { name: 'labels', type: FieldType.other, values: [{ model_version: 'bias' }, 'not json'] },
        { name: 'tags', type: FieldType.other, values: [['bias', 'latency'], null] },
      ],
    });
    expect(feedbackFramesToAnnotations([frame])).toEqual([
      { time: Date.parse('2026-11-01T10:00:00Z'), text: '', tags: ['bias', 'latency'] },
    ]);
  });

  it('uses the first time field when there is no timestamp and skips frames without time', () => {
    const withTime = createDataFrame({
      fields: [
        { name: 'at', type: FieldType.time, values: [5] },
        { name: 'body', type: FieldType.string, values: ['x'] },
      ],
    });
    const noTime = createDataFrame({ fields: [{ name: 'body', type: FieldType.string, values: ['y'] }] });
    expect(feedbackFramesToAnnotations([noTime, withTime])).toEqual([{ time: 5, text: 'x', tags: [] }]);
    expect(feedbackFramesToAnnotations([])).toEqual([]);
  });

  it('the default annotation query reads escalations as feedback events', () => {
    expect(DEFAULT_ANNOTATION_QUERY).toEqual({ queryType: 'feedback', kind: 'escalation' });
  });
});
