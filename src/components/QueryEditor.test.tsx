import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { DataSourceInstanceSettings, dateTime, TimeRange } from '@grafana/data';

import { DataSource } from '../datasource';
import { FeedbackDataSourceOptions, FeedbackQuery } from '../types';
import { chooseCustomValue, chooseOption, findOption, openOptions, setupComboboxEnvironment } from '../test/combobox';
import { QueryEditor, withQueryType } from './QueryEditor';

jest.mock('@grafana/runtime', () => ({
  ...jest.requireActual('@grafana/runtime'),
  getTemplateSrv: () => ({
    getVariables: () => [{ name: 'tag' }, { name: 'dim' }],
    replace: (s: string) => s,
  }),
}));

const settings = {
  id: 1,
  uid: 'fb',
  type: 'feedbackloop-modelfeedback-datasource',
  name: 'Feedback Loop',
  access: 'proxy',
  readOnly: false,
  jsonData: { defaultSource: 'loki' },
  meta: {},
} as unknown as DataSourceInstanceSettings<FeedbackDataSourceOptions>;

const FROM = 1_699_999_980_000; // minute-aligned: the editor rounds the range to minutes
const TO = FROM + 6 * 3_600_000;
const range: TimeRange = {
  from: dateTime(FROM),
  to: dateTime(TO),
  raw: { from: 'now-6h', to: 'now' },
};

const resources: Record<string, string[]> = {
  tags: ['bias', 'needs_citation', 'tone'],
  fields: [
    'attributes.plan',
    'model_id',
    'model_version',
    'tag',
    'correlation_id',
    'params.verbosity',
    'prompt_version',
  ],
  // loaded lazily (on focus), not on render
  'field-values': ['v1.0', 'v2.0'],
  'model-versions': ['2026-11-01.1', '2026-11-01.2'],
};

function makeDataSource(answers: Record<string, string[] | Error> = resources) {
  const ds = new DataSource(settings);
  const getResource = jest.spyOn(ds, 'getResource').mockImplementation(async (path: string) => {
    const answer = answers[path];
    if (answer instanceof Error) {
      throw answer;
    }
    return answer ?? [];
  });
  return { ds, getResource };
}

async function setup(query: Partial<FeedbackQuery> = {}, answers?: Record<string, string[] | Error>) {
  const { ds, getResource } = makeDataSource(answers);
  const onChange = jest.fn();
  const onRunQuery = jest.fn();
  const fullQuery: FeedbackQuery = { refId: 'A', ...query };
  const { rerender } = render(
    <QueryEditor datasource={ds} query={fullQuery} onChange={onChange} onRunQuery={onRunQuery} range={range} />
  );
  // let the resource requests settle
  await waitFor(() => expect(getResource).toHaveBeenCalledTimes(2));
  await act(async () => {});
  return { onChange, onRunQuery, getResource, query: fullQuery, ds, rerender };
}

/** The suggestions of a SuggestInput, once loaded. */
async function suggestionsOf(input: HTMLElement): Promise<string[]> {
  fireEvent.focus(input);
  const list = document.getElementById(input.getAttribute('list')!)!;
  await waitFor(() => expect(list.querySelectorAll('option').length).toBeGreaterThan(0));
  return Array.from(list.querySelectorAll('option')).map((o) => o.value);
}

const summaryText = () => screen.getByTestId('feedback-query-summary').textContent;

const byId = (id: string) => document.getElementById(id) as HTMLInputElement;

// @grafana/ui comboboxes are heavy under jsdom; leave room on slow CI machines.
jest.setTimeout(30_000);

beforeAll(setupComboboxEnvironment);

describe('QueryEditor', () => {
  it('renders the defaults of a breakdown query', async () => {
    await setup({ queryType: 'breakdown', groupBy: ['model_version'], metric: 'count' });
    expect(screen.getByLabelText('Query type')).toHaveValue('Breakdown');
    expect(screen.getByRole('radio', { name: 'Default', hidden: true })).toBeChecked();
    expect(screen.getByLabelText('Kind')).toHaveValue('Feedback');
    expect(screen.getByLabelText('Sentiment')).toHaveValue('Any');
    expect(screen.getByLabelText('Metric')).toHaveValue('Count');
    expect(screen.getByText('model_version')).toBeInTheDocument();
    expect(screen.queryByLabelText('Correlation ID')).not.toBeInTheDocument();
    expect(screen.queryByLabelText('Limit')).not.toBeInTheDocument();
  });

  it('asks the tags and fields resources for the source and time range', async () => {
    const { getResource } = await setup({ source: 'elasticsearch' });
    expect(getResource).toHaveBeenCalledWith('tags', { source: 'elasticsearch', from: FROM, to: TO });
    expect(getResource).toHaveBeenCalledWith('fields', { source: 'elasticsearch', from: FROM, to: TO });
  });

  it('uses the default source for the resources when the query has none', async () => {
    const { getResource } = await setup({});
    expect(getResource).toHaveBeenCalledWith('tags', { source: 'loki', from: FROM, to: TO });
  });

  it('changing the query type updates the query and runs it', async () => {
    const { onChange, onRunQuery, query } = await setup({ queryType: 'breakdown' });
    await chooseOption(screen.getByLabelText('Query type'), /^Versions/);
    expect(onChange).toHaveBeenLastCalledWith({ ...query, queryType: 'versions' });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('the source radio sets and clears source', async () => {
    const { onChange, onRunQuery, query } = await setup({});
    fireEvent.click(screen.getByRole('radio', { name: 'Elasticsearch', hidden: true }));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, source: 'elasticsearch' });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('choosing Default removes the source', async () => {
    const { onChange } = await setup({ source: 'elasticsearch' });
    fireEvent.click(screen.getByRole('radio', { name: 'Default', hidden: true }));
    expect(onChange.mock.calls[0][0].source).toBeUndefined();
  });

  it('changing kind and sentiment updates the query and runs it', async () => {
    const { onChange, onRunQuery, query } = await setup({ sentiment: 'positive' });
    await chooseOption(screen.getByLabelText('Kind'), 'Escalation');
    expect(onChange).toHaveBeenLastCalledWith({ ...query, kind: 'escalation' });
    await chooseOption(screen.getByLabelText('Sentiment'), 'Negative');
    expect(onChange).toHaveBeenLastCalledWith({ ...query, sentiment: 'negative' });
    await chooseOption(screen.getByLabelText('Sentiment'), 'Any');
    expect(onChange.mock.calls[2][0].sentiment).toBeUndefined();
    expect(onRunQuery).toHaveBeenCalledTimes(3);
  });

  it('offers the taxonomy, the fetched tags and the variables as tags', async () => {
    await setup({});
    const options = await openOptions(byId('feedback-tags'));
    expect(options).toEqual([
      'hallucination',
      'factually_incorrect',
      'formatting_error',
      'latency',
      'bias',
      'offensive',
      'harmful',
      'not_helpful',
      'other',
      'needs_citation',
      'tone',
      '$tag',
      '$dim',
    ]);
  });

  it('selecting a fetched tag and a custom tag updates tags and runs the query', async () => {
    const { onChange, onRunQuery, query } = await setup({ tags: ['bias'] });
    await chooseOption(byId('feedback-tags'), 'needs_citation');
    expect(onChange).toHaveBeenLastCalledWith({ ...query, tags: ['bias', 'needs_citation'] });
    expect(onRunQuery).toHaveBeenCalledTimes(1);

    await chooseCustomValue(byId('feedback-tags'), 'made_up');
    expect(onChange).toHaveBeenLastCalledWith({ ...query, tags: ['bias', 'made_up'] });
  });

  it('offers the fetched fields (without filter-only ones) for group by and updates groupBy', async () => {
    const { onChange, query } = await setup({ queryType: 'timeseries', groupBy: ['model_version'] });
    const options = await openOptions(byId('feedback-group-by'));
    expect(options).toEqual([
      'attributes.plan',
      'model_id',
      'model_version',
      'tag',
      'params.verbosity',
      'prompt_version',
      '$tag',
      '$dim',
    ]);
    fireEvent.click(await findOption('tag'));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, groupBy: ['model_version', 'tag'] });
    fireEvent.click(await findOption('params.verbosity'));
    // The query prop is not updated here, so the pick adds to the original groupBy.
    expect(onChange).toHaveBeenLastCalledWith({ ...query, groupBy: ['model_version', 'params.verbosity'] });
  });

  it('falls back to the static field list when the fields resource fails', async () => {
    await setup({ queryType: 'breakdown' }, { tags: [], fields: new Error('boom') });
    const options = await openOptions(byId('feedback-group-by'));
    expect(options).toEqual([
      'model_id',
      'model_version',
      'sentiment',
      'reason',
      'tag',
      'severity',
      'source',
      'user_role',
      'user_geo',
      'prompt_version',
      'effective_version',
      '$tag',
      '$dim',
    ]);
  });

  it('changing the metric updates the query and runs it', async () => {
    const { onChange, onRunQuery, query } = await setup({ queryType: 'breakdown', metric: 'count' });
    await chooseOption(screen.getByLabelText('Metric'), /^Share/);
    expect(onChange).toHaveBeenLastCalledWith({ ...query, metric: 'share' });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('search updates on change and runs on blur', async () => {
    const { onChange, onRunQuery, query } = await setup({});
    const input = screen.getByLabelText('Search');
    fireEvent.change(input, { target: { value: 'wrong answer' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, search: 'wrong answer' });
    expect(onRunQuery).not.toHaveBeenCalled();
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('a trace query shows the correlation id (and no filters)', async () => {
    const { onChange, onRunQuery, query } = await setup({ queryType: 'trace' });
    const input = screen.getByLabelText('Correlation ID');
    expect(screen.queryByLabelText('Search')).not.toBeInTheDocument();
    expect(screen.queryByRole('button', { name: /Add filter/, hidden: true })).not.toBeInTheDocument();
    fireEvent.change(input, { target: { value: 'abc-123' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, correlationId: 'abc-123' });
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('a feedback query shows the limit, clamped to 1..5000', async () => {
    const { onChange, onRunQuery, query } = await setup({ queryType: 'feedback', limit: 100 });
    const input = screen.getByLabelText('Limit');
    expect(input).toHaveValue(100);
    fireEvent.change(input, { target: { value: '250' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, limit: 250 });
    fireEvent.change(input, { target: { value: '99999' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, limit: 5000 });
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
    expect(screen.queryByLabelText('Group by')).not.toBeInTheDocument();
  });

  it('a versions query shows the baseline', async () => {
    const { onChange } = await setup({ queryType: 'versions' });
    fireEvent.change(screen.getByLabelText('Baseline'), { target: { value: 'v1.4.0' } });
    expect(onChange.mock.calls[0][0].baseline).toBe('v1.4.0');
  });

  it('adds a filter row without running the query', async () => {
    const { onChange, onRunQuery, query } = await setup({});
    fireEvent.click(screen.getByRole('button', { name: /Add filter/, hidden: true }));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, filters: [{ key: '', operator: '=', value: '' }] });
    expect(onRunQuery).not.toHaveBeenCalled();
  });

  it('edits a filter row: key, operator, value, remove', async () => {
    const filters: FeedbackQuery['filters'] = [
      { key: 'model_version', operator: '=', value: 'v1' },
      { key: 'user_geo', operator: '!=', value: 'EU' },
    ];
    const { onChange, onRunQuery, query } = await setup({ filters });

    const keyOptions = await openOptions(screen.getByLabelText('Filter 1 field'));
    expect(keyOptions).toContain('correlation_id');
    expect(keyOptions).toContain('attributes.plan');
    fireEvent.click(await findOption('model_id'));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, filters: [{ ...filters[0], key: 'model_id' }, filters[1]] });
    expect(onRunQuery).toHaveBeenCalledTimes(1);

    await chooseOption(screen.getByLabelText('Filter 2 operator'), /^=~/);
    expect(onChange).toHaveBeenLastCalledWith({ ...query, filters: [filters[0], { ...filters[1], operator: '=~' }] });
    expect(onRunQuery).toHaveBeenCalledTimes(2);

    const value = screen.getByLabelText('Filter 1 value');
    fireEvent.change(value, { target: { value: 'v2.*' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, filters: [{ ...filters[0], value: 'v2.*' }, filters[1]] });
    expect(onRunQuery).toHaveBeenCalledTimes(2);
    fireEvent.blur(value);
    expect(onRunQuery).toHaveBeenCalledTimes(3);

    fireEvent.click(screen.getByRole('button', { name: 'Remove filter 1', hidden: true }));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, filters: [filters[1]] });
    expect(onRunQuery).toHaveBeenCalledTimes(4);
  });

  it('a filter field can be a custom attributes.<key>', async () => {
    const { onChange, query } = await setup({ filters: [{ key: '', operator: '=', value: 'pro' }] });
    await chooseCustomValue(screen.getByLabelText('Filter 1 field'), 'attributes.tier');
    expect(onChange).toHaveBeenLastCalledWith({
      ...query,
      filters: [{ key: 'attributes.tier', operator: '=', value: 'pro' }],
    });
  });
});

describe('QueryEditor per query type', () => {
  const controls: Record<string, string> = {
    kind: 'feedback-kind',
    sentiment: 'feedback-sentiment',
    tags: 'feedback-tags',
    search: 'feedback-search',
    groupBy: 'feedback-group-by',
    metric: 'feedback-metric',
    correlationId: 'feedback-correlation-id',
    baseline: 'feedback-baseline',
    limit: 'feedback-limit',
  };
  const shown = (): string[] => {
    const present = Object.entries(controls)
      .filter(([, id]) => document.getElementById(id))
      .map(([name]) => name);
    if (screen.queryByRole('button', { name: /Add filter/, hidden: true })) {
      present.push('filters');
    }
    return present.sort();
  };

  const GROUPED_CONTROLS = ['filters', 'groupBy', 'kind', 'metric', 'search', 'sentiment', 'tags'];

  // (breakdown and timeseries are checked in the tests below that render them anyway)
  it.each([
    ['feedback', ['filters', 'kind', 'limit', 'search', 'sentiment', 'tags']],
    ['trace', ['correlationId']],
    ['versions', ['baseline', 'filters', 'tags']],
    ['clusters', ['filters', 'limit', 'search', 'sentiment', 'tags']],
    ['reviews', ['filters', 'limit', 'search']],
  ] as const)('%s shows only %j', async (queryType, expected) => {
    await setup({ queryType });
    expect(shown()).toEqual(expected);
    // the query type and source apply to every type
    expect(byId('feedback-query-type')).toBeInTheDocument();
    expect(screen.getByRole('radio', { name: 'Default', hidden: true })).toBeInTheDocument();
  });

  it('changing the query type drops the settings the new type does not use', async () => {
    const filters: FeedbackQuery['filters'] = [{ key: 'model_id', operator: '=', value: 'bot' }];
    const { onChange, onRunQuery } = await setup({
      queryType: 'breakdown',
      source: 'elasticsearch',
      kind: 'feedback',
      sentiment: 'negative',
      tags: ['bias'],
      filters,
      search: 'slow',
      groupBy: ['tag'],
      metric: 'share',
    });
    expect(shown()).toEqual(GROUPED_CONTROLS);
    await chooseOption(byId('feedback-query-type'), /^Versions/);
    expect(onChange).toHaveBeenLastCalledWith({
      refId: 'A',
      queryType: 'versions',
      source: 'elasticsearch',
      tags: ['bias'],
      filters,
    });
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('withQueryType keeps what the new type uses', () => {
    const q: FeedbackQuery = { refId: 'A', queryType: 'feedback', kind: 'escalation', limit: 10, correlationId: 'x' };
    expect(withQueryType(q, 'trace')).toEqual({ refId: 'A', queryType: 'trace', correlationId: 'x' });
    expect(withQueryType(q, 'reviews')).toEqual({ refId: 'A', queryType: 'reviews', limit: 10 });
    expect(withQueryType({ refId: 'A', search: 's', groupBy: ['tag'] }, 'timeseries')).toEqual({
      refId: 'A',
      queryType: 'timeseries',
      search: 's',
      groupBy: ['tag'],
    });
  });

  it('offers every metric and sets negative_rate / per_1k_requests / the edit metrics', async () => {
    const { onChange, query } = await setup({ queryType: 'timeseries' });
    expect(shown()).toEqual(GROUPED_CONTROLS);
    const options = await openOptions(byId('feedback-metric'));
    expect(options.map((o) => o.split(/(?=[A-Z])/)[0])).toEqual([
      'Count',
      'Share',
      'Negative rate',
      'Per 1k requests',
      'Edit rate',
      'Edit similarity',
      'Edit length ratio',
    ]);
    fireEvent.click(await findOption(/^Negative rate/));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, metric: 'negative_rate' });
    await chooseOption(byId('feedback-metric'), /^Per 1k requests/);
    expect(onChange).toHaveBeenLastCalledWith({ ...query, metric: 'per_1k_requests' });
    await chooseOption(byId('feedback-metric'), /^Edit length ratio/);
    expect(onChange).toHaveBeenLastCalledWith({ ...query, metric: 'edit_length_ratio' });
  });

  it('a filter value suggests the field values of the source and range (loaded on focus) and the variables', async () => {
    const { getResource } = await setup({
      source: 'elasticsearch',
      filters: [
        { key: 'model_version', operator: '=', value: '' },
        { key: 'sentiment', operator: '!=', value: '' },
        { key: '', operator: '=', value: '' },
      ],
    });
    expect(getResource).toHaveBeenCalledTimes(2); // nothing loaded before focus

    expect(await suggestionsOf(screen.getByLabelText('Filter 1 value'))).toEqual(['v1.0', 'v2.0', '$tag', '$dim']);
    expect(getResource).toHaveBeenLastCalledWith('field-values', {
      field: 'model_version',
      source: 'elasticsearch',
      from: FROM,
      to: TO,
    });
    // known values of an enumerated field come first
    expect(await suggestionsOf(screen.getByLabelText('Filter 2 value'))).toEqual([
      'positive',
      'negative',
      'neutral',
      'v1.0',
      'v2.0',
      '$tag',
      '$dim',
    ]);
    expect(getResource).toHaveBeenCalledTimes(4);
    // a row without a field only offers the variables, without asking the backend
    expect(await suggestionsOf(screen.getByLabelText('Filter 3 value'))).toEqual(['$tag', '$dim']);
    // focusing again does not reload
    fireEvent.focus(screen.getByLabelText('Filter 1 value'));
    await act(async () => {});
    expect(getResource).toHaveBeenCalledTimes(4);
  });

  it('a filter value accepts any typed text (custom value, regex or variable) and runs on blur', async () => {
    const { onChange, onRunQuery, query } = await setup({
      filters: [{ key: 'model_version', operator: '=~', value: '' }],
    });
    const input = screen.getByLabelText('Filter 1 value');
    fireEvent.change(input, { target: { value: '$version' } });
    expect(onChange).toHaveBeenLastCalledWith({
      ...query,
      filters: [{ key: 'model_version', operator: '=~', value: '$version' }],
    });
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('the baseline suggests the model versions (of the filtered model id) and the variables', async () => {
    const { getResource, onChange, onRunQuery, query } = await setup({
      queryType: 'versions',
      filters: [{ key: 'model_id', operator: '=', value: 'support-bot' }],
    });
    const input = screen.getByLabelText('Baseline');
    expect(await suggestionsOf(input)).toEqual(['2026-11-01.1', '2026-11-01.2', '$tag', '$dim']);
    expect(getResource).toHaveBeenLastCalledWith('model-versions', {
      source: 'loki',
      from: FROM,
      to: TO,
      model_id: 'support-bot',
    });
    fireEvent.change(input, { target: { value: '$base' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, baseline: '$base' });
    fireEvent.blur(input);
    expect(onRunQuery).toHaveBeenCalledTimes(1);
  });

  it('a clusters / reviews query sets the limit and search', async () => {
    const { onChange, query } = await setup({ queryType: 'reviews' });
    fireEvent.change(screen.getByLabelText('Limit'), { target: { value: '20' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, limit: 20 });
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'refund' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, search: 'refund' });
  });

  it('shows a live summary of what will run and warnings, without calling the backend', async () => {
    const { getResource, ds, rerender } = await setup({
      queryType: 'breakdown',
      sentiment: 'negative',
      groupBy: ['model_version', 'tag'],
      metric: 'share',
    });
    expect(summaryText()).toBe('Breakdown of negative feedback by model_version × tag, share, from Loki');

    const next: FeedbackQuery = {
      refId: 'A',
      queryType: 'breakdown',
      source: 'elasticsearch',
      sentiment: 'negative',
      groupBy: ['sentiment'],
      metric: 'negative_rate',
      filters: [{ key: 'model_id', operator: '=', value: 'bot' }],
    };
    rerender(<QueryEditor datasource={ds} query={next} onChange={jest.fn()} onRunQuery={jest.fn()} range={range} />);
    await act(async () => {});
    expect(summaryText()).toMatch(
      /^Breakdown of negative feedback by sentiment, negative rate, from Elasticsearch \(model_id = bot\)/
    );
    expect(summaryText()).toMatch(/set Sentiment to Any/);
    expect(summaryText()).toMatch(/remove sentiment from Group by/);
    // only the editor's tags/fields look-ups, never a query
    expect(getResource.mock.calls.map((c) => c[0]).sort()).toEqual(['fields', 'fields', 'tags', 'tags']);
  });
});
