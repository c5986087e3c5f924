import { fireEvent } from '@testing-library/react';

import { QUERY_TYPE_OPTIONS } from '../../types';
import { FeedbackSection } from './FeedbackSection';
import { SECTIONS } from './sections';
import { renderSection, shownSettings } from './sectionTesting';

describe('FeedbackSection', () => {
  it('is the section of feedback and shows exactly its settings', () => {
    expect(SECTIONS.feedback).toBe(FeedbackSection);
    const { container } = renderSection(FeedbackSection, { queryType: 'feedback' });
    expect(shownSettings(container)).toEqual([...QUERY_TYPE_OPTIONS.feedback].sort());
  });

  it('clamps the limit to 1..5000 while typing and runs on blur', () => {
    const { container, ctx } = renderSection(FeedbackSection, { limit: 100 });
    const limit = container.querySelector<HTMLInputElement>('#feedback-limit')!;
    fireEvent.change(limit, { target: { value: '9000' } });
    expect(ctx.edit).toHaveBeenLastCalledWith({ limit: 5000 });
    fireEvent.change(limit, { target: { value: '0' } });
    expect(ctx.edit).toHaveBeenLastCalledWith({ limit: 1 });
    fireEvent.change(limit, { target: { value: '' } });
    expect(ctx.edit).toHaveBeenLastCalledWith({ limit: undefined });
    expect(ctx.onRunQuery).not.toHaveBeenCalled();
    fireEvent.blur(limit);
    expect(ctx.onRunQuery).toHaveBeenCalledTimes(1);
  });
});
