import { dateTime, TimeRange } from '@grafana/data';

import { lookupRange, uniq } from './editorSupport';

describe('editor support', () => {
  it('uniq keeps the first of each value and drops empties', () => {
    expect(uniq(['b', 'a', '', undefined, 'b', '$v'])).toEqual(['b', 'a', '$v']);
  });

  it('lookupRange rounds the range out to whole minutes', () => {
    const from = dateTime(Date.UTC(2026, 10, 25, 10, 0, 30));
    const to = dateTime(Date.UTC(2026, 10, 25, 11, 59, 1));
    const range: TimeRange = { from, to, raw: { from, to } };
    expect(lookupRange(range)).toEqual({ from: Date.UTC(2026, 10, 25, 10, 0), to: Date.UTC(2026, 10, 25, 12, 0) });
    expect(lookupRange(undefined)).toEqual({ from: undefined, to: undefined });
  });
});
