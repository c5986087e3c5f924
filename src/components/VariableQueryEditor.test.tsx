import React from 'react';
import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { DataSourceInstanceSettings, dateTime, TimeRange } from '@grafana/data';

import { DataSource } from '../datasource';
import { FeedbackDataSourceOptions, FeedbackVariableDataQuery } from '../types';
import { chooseCustomValue, chooseOption, findOption, openOptions, setupComboboxEnvironment } from '../test/combobox';
import { VariableQueryEditor } from './VariableQueryEditor';

jest.mock('@grafana/runtime', () => ({
  ...jest.requireActual('@grafana/runtime'),
  getTemplateSrv: () => ({
    getVariables: () => [{ name: 'model_id' }],
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
const TO = FROM + 3_600_000;
const range: TimeRange = { from: dateTime(FROM), to: dateTime(TO), raw: { from: 'now-1h', to: 'now' } };

const resources: Record<string, string[]> = {
  'model-ids': ['billing-bot', 'support-bot'],
  fields: ['model_id', 'attributes.plan', 'params.temperature'],
};

async function setup(query: unknown) {
  const ds = new DataSource(settings);
  const getResource = jest.spyOn(ds, 'getResource').mockImplementation(async (path: string) => resources[path] ?? []);
  const onChange = jest.fn();
  const { rerender } = render(
    <VariableQueryEditor
      datasource={ds}
      query={query as FeedbackVariableDataQuery}
      onChange={onChange}
      onRunQuery={jest.fn()}
      range={range}
    />
  );
  await act(async () => {});
  return { ds, getResource, onChange, rerender };
}

const byId = (id: string) => document.getElementById(id) as HTMLInputElement;

jest.setTimeout(30_000);

beforeAll(setupComboboxEnvironment);

describe('VariableQueryEditor', () => {
  it('a new variable shows model ids, with no parameters and no look-ups', async () => {
    const { getResource } = await setup('');
    expect(screen.getByLabelText('Values of')).toHaveValue('Model IDs');
    expect(screen.getByRole('radio', { name: 'Default', hidden: true })).toBeChecked();
    expect(byId('variable-model-id')).toBeNull();
    expect(byId('variable-field')).toBeNull();
    expect(getResource).not.toHaveBeenCalled();
    expect(screen.getByText(/^Values of model-ids in the dashboard's time range/)).toBeInTheDocument();
  });

  it('offers the four resources and choosing one saves it with the refId', async () => {
    const { onChange } = await setup({ refId: 'V1', resource: 'model-ids' });
    const options = await openOptions(screen.getByLabelText('Values of'));
    const labels = ['Model IDs', 'Model versions', 'Tags', 'Field values'];
    expect(options).toHaveLength(4);
    options.forEach((text, i) => expect(text.startsWith(labels[i])).toBe(true));
    fireEvent.click(screen.getAllByRole('option', { hidden: true })[2]);
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'V1', resource: 'tags' });
  });

  it('model versions: the model id (e.g. $model_id) is saved on blur, with model ids and variables suggested', async () => {
    const { onChange, getResource } = await setup({ refId: 'V', resource: 'model-versions', source: 'loki' });
    const input = screen.getByLabelText('Model ID');
    fireEvent.focus(input);
    const list = document.getElementById(input.getAttribute('list')!)!;
    await waitFor(() => expect(list.querySelectorAll('option')).toHaveLength(3));
    expect(Array.from(list.querySelectorAll('option')).map((o) => o.value)).toEqual([
      '$model_id',
      'billing-bot',
      'support-bot',
    ]);
    expect(getResource).toHaveBeenCalledWith('model-ids', { source: 'loki', from: FROM, to: TO });

    fireEvent.change(input, { target: { value: '$model_id' } });
    expect(onChange).not.toHaveBeenCalled();
    fireEvent.blur(input);
    expect(onChange).toHaveBeenLastCalledWith({
      refId: 'V',
      resource: 'model-versions',
      modelId: '$model_id',
      source: 'loki',
    });
    expect(screen.getByText(/^Values of model-versions\(model_id=\$model_id, source=loki\)/)).toBeInTheDocument();
  });

  it('field values: offers the known and fetched fields and the variables; a custom field works', async () => {
    const { onChange, getResource } = await setup({ refId: 'V', resource: 'field-values' });
    expect(getResource).toHaveBeenCalledWith('fields', { from: FROM, to: TO });
    const options = await openOptions(screen.getByLabelText('Field'));
    expect(options).toEqual(
      expect.arrayContaining([
        'model_version',
        'user_geo',
        'prompt_version',
        'effective_version',
        'attributes.plan',
        'params.temperature',
        '$model_id',
      ])
    );
    fireEvent.click(await findOption('user_geo'));
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'V', resource: 'field-values', field: 'user_geo' });
    await chooseCustomValue(screen.getByLabelText('Field'), 'attributes.domain');
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'V', resource: 'field-values', field: 'attributes.domain' });
  });

  it('the source radio sets and clears source; changing the resource drops parameters it does not use', async () => {
    const { onChange } = await setup({ refId: 'V', resource: 'model-versions', modelId: 'bot' });
    fireEvent.click(screen.getByRole('radio', { name: 'Elasticsearch', hidden: true }));
    expect(onChange).toHaveBeenLastCalledWith({
      refId: 'V',
      resource: 'model-versions',
      modelId: 'bot',
      source: 'elasticsearch',
    });
    fireEvent.click(screen.getByRole('radio', { name: 'Default', hidden: true }));
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'V', resource: 'model-versions', modelId: 'bot' });
    await chooseOption(screen.getByLabelText('Values of'), /^Tags/);
    expect(onChange).toHaveBeenLastCalledWith({ refId: 'V', resource: 'tags' });
  });

  it('reads a text query and follows a query changed from outside', async () => {
    const { ds, rerender } = await setup('tags');
    expect(screen.getByLabelText('Values of')).toHaveValue('Tags');
    rerender(
      <VariableQueryEditor
        datasource={ds}
        query={{ refId: 'V', resource: 'model-versions', modelId: 'bot' }}
        onChange={jest.fn()}
        onRunQuery={jest.fn()}
      />
    );
    await act(async () => {});
    expect(screen.getByLabelText('Values of')).toHaveValue('Model versions');
    expect(screen.getByLabelText('Model ID')).toHaveValue('bot');
  });
});
