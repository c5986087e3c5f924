import { fireEvent, screen } from '@testing-library/react';

import { QUERY_TYPE_OPTIONS } from '../../types';
import { BreakdownSection } from './BreakdownSection';
import { SECTIONS } from './sections';
import { renderSection, shownSettings } from './sectionTesting';

describe('BreakdownSection', () => {
  it('is the section of breakdown and timeseries and shows exactly their settings', () => {
    expect(SECTIONS.breakdown).toBe(BreakdownSection);
    expect(SECTIONS.timeseries).toBe(BreakdownSection);
    const { container } = renderSection(BreakdownSection, { queryType: 'breakdown' });
    expect(shownSettings(container)).toEqual([...QUERY_TYPE_OPTIONS.breakdown].sort());
    expect([...QUERY_TYPE_OPTIONS.timeseries].sort()).toEqual([...QUERY_TYPE_OPTIONS.breakdown].sort());
  });

  it('shows the metric and group-by of the query', () => {
    const { container } = renderSection(BreakdownSection, { metric: 'count', groupBy: ['model_version'] });
    expect(container.querySelector<HTMLInputElement>('#feedback-metric')!.value).toBe('Count');
    expect(screen.getByText('model_version')).toBeInTheDocument();
  });

  it('adds a filter row without running, removes one and runs', () => {
    const filters = [{ key: 'model_id', operator: '=' as const, value: 'bot' }];
    const { ctx } = renderSection(BreakdownSection, { filters });
    fireEvent.click(screen.getByRole('button', { name: /Add filter/ }));
    expect(ctx.edit).toHaveBeenCalledWith({ filters: [...filters, { key: '', operator: '=', value: '' }] });
    fireEvent.click(screen.getByRole('button', { name: 'Remove filter 1' }));
    expect(ctx.change).toHaveBeenCalledWith({ filters: [] });
    expect(ctx.onRunQuery).not.toHaveBeenCalled();
  });
});
