import { fireEvent } from '@testing-library/react';

import { QUERY_TYPE_OPTIONS } from '../../types';
import { SECTIONS } from './sections';
import { renderSection, shownSettings } from './sectionTesting';
import { TraceSection } from './TraceSection';

describe('TraceSection', () => {
  it('is the section of trace and shows only the correlation id', () => {
    expect(SECTIONS.trace).toBe(TraceSection);
    const { container } = renderSection(TraceSection, { queryType: 'trace' });
    expect(shownSettings(container)).toEqual(['correlationId']);
    expect(QUERY_TYPE_OPTIONS.trace).toEqual(['correlationId']);
  });

  it('edits the correlation id as typed and runs on blur', () => {
    const { container, ctx } = renderSection(TraceSection, { correlationId: 'abc' });
    const input = container.querySelector<HTMLInputElement>('#feedback-correlation-id')!;
    expect(input.value).toBe('abc');
    fireEvent.change(input, { target: { value: '$correlation_id' } });
    expect(ctx.edit).toHaveBeenCalledWith({ correlationId: '$correlation_id' });
    expect(ctx.onRunQuery).not.toHaveBeenCalled();
    fireEvent.blur(input);
    expect(ctx.onRunQuery).toHaveBeenCalledTimes(1);
  });
});
