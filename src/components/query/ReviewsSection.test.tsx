import { fireEvent, waitFor } from '@testing-library/react';

import { QUERY_TYPE_OPTIONS } from '../../types';
import { ReviewsSection } from './ReviewsSection';
import { SECTIONS } from './sections';
import { renderSection, shownSettings } from './sectionTesting';

describe('ReviewsSection', () => {
  it('is the section of reviews and shows exactly its settings', () => {
    expect(SECTIONS.reviews).toBe(ReviewsSection);
    const { container } = renderSection(ReviewsSection, { queryType: 'reviews' });
    expect(shownSettings(container)).toEqual([...QUERY_TYPE_OPTIONS.reviews].sort());
  });

  it('a filter value suggests known values, the field values and the variables, and edits without running', async () => {
    const { container, ctx, fetchValues } = renderSection(ReviewsSection, {
      filters: [{ key: 'severity', operator: '=', value: '' }],
    });
    const input = container.querySelector<HTMLInputElement>('#feedback-filter-value-0')!;
    fireEvent.focus(input);
    const list = document.getElementById(input.getAttribute('list')!)!;
    await waitFor(() => expect(list.querySelectorAll('option').length).toBeGreaterThan(0));
    expect(Array.from(list.querySelectorAll('option')).map((o) => o.value)).toEqual([
      'info',
      'warning',
      'critical',
      'severity-value',
      '$var',
    ]);
    expect(fetchValues).toHaveBeenCalledWith('field-values', {
      field: 'severity',
      source: 'loki',
      from: 1_000_000,
      to: 2_000_000,
    });
    fireEvent.change(input, { target: { value: 'critical' } });
    expect(ctx.edit).toHaveBeenCalledWith({ filters: [{ key: 'severity', operator: '=', value: 'critical' }] });
    expect(ctx.change).not.toHaveBeenCalled();
  });
});
