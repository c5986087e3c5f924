import { fireEvent, waitFor } from '@testing-library/react';

import { QUERY_TYPE_OPTIONS } from '../../types';
import { SECTIONS } from './sections';
import { renderSection, shownSettings } from './sectionTesting';
import { VersionsSection } from './VersionsSection';

describe('VersionsSection', () => {
  it('is the section of versions and shows exactly its settings', () => {
    expect(SECTIONS.versions).toBe(VersionsSection);
    const { container } = renderSection(VersionsSection, { queryType: 'versions' });
    expect(shownSettings(container)).toEqual([...QUERY_TYPE_OPTIONS.versions].sort());
  });

  it('suggests the versions of the filtered model id and the variables, and edits the baseline', async () => {
    const { container, ctx, fetchValues } = renderSection(VersionsSection, {
      filters: [{ key: 'model_id', operator: '=', value: 'bot' }],
      baseline: 'bot-v0',
    });
    const input = container.querySelector<HTMLInputElement>('#feedback-baseline')!;
    fireEvent.focus(input);
    const list = document.getElementById(input.getAttribute('list')!)!;
    await waitFor(() => expect(list.querySelectorAll('option')).toHaveLength(3));
    expect(Array.from(list.querySelectorAll('option')).map((o) => o.value)).toEqual(['bot-v1', 'bot-v2', '$var']);
    expect(fetchValues).toHaveBeenCalledWith('model-versions', {
      source: 'loki',
      from: 1_000_000,
      to: 2_000_000,
      model_id: 'bot',
    });
    fireEvent.change(input, { target: { value: 'bot-v1' } });
    expect(ctx.edit).toHaveBeenCalledWith({ baseline: 'bot-v1' });
    fireEvent.change(input, { target: { value: '' } });
    expect(ctx.edit).toHaveBeenLastCalledWith({ baseline: undefined });
  });
});
