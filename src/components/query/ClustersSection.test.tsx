import { fireEvent } from '@testing-library/react';

import { QUERY_TYPE_OPTIONS } from '../../types';
import { ClustersSection } from './ClustersSection';
import { SECTIONS } from './sections';
import { renderSection, shownSettings } from './sectionTesting';

describe('ClustersSection', () => {
  it('is the section of clusters and shows exactly its settings (a sentiment, no kind)', () => {
    expect(SECTIONS.clusters).toBe(ClustersSection);
    const { container } = renderSection(ClustersSection, { queryType: 'clusters' });
    expect(shownSettings(container)).toEqual([...QUERY_TYPE_OPTIONS.clusters].sort());
    expect(container.querySelector('#feedback-kind')).toBeNull();
  });

  it('edits the search, dropping an empty one, and runs on blur', () => {
    const { container, ctx } = renderSection(ClustersSection, { search: 'slow' });
    const search = container.querySelector<HTMLInputElement>('#feedback-search')!;
    expect(search.value).toBe('slow');
    fireEvent.change(search, { target: { value: '' } });
    expect(ctx.edit).toHaveBeenCalledWith({ search: undefined });
    fireEvent.blur(search);
    expect(ctx.onRunQuery).toHaveBeenCalledTimes(1);
  });
});
