import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { DataSourceInstanceSettings, dateTime, TimeRange } from '@grafana/data';

import { DataSource } from '../datasource';
import { FeedbackDataSourceOptions, FeedbackQuery } from '../types';
import { chooseCustomValue, chooseOption, findOption, openOptions, setupComboboxEnvironment } from '../test/combobox';
import { QueryEditor } from './QueryEditor';

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
  fields: ['attributes.plan', 'model_id', 'model_version', 'tag', 'correlation_id'],
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
  render(<QueryEditor datasource={ds} query={fullQuery} onChange={onChange} onRunQuery={onRunQuery} range={range} />);
  // let the resource requests settle
  await waitFor(() => expect(getResource).toHaveBeenCalledTimes(2));
  await act(async () => {});
  return { onChange, onRunQuery, getResource, query: fullQuery };
}

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
    expect(options).toEqual(['attributes.plan', 'model_id', 'model_version', 'tag', '$tag', '$dim']);
    fireEvent.click(await findOption('tag'));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, groupBy: ['model_version', 'tag'] });
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
