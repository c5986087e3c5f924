import React from 'react';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { DataSourceSettings } from '@grafana/data';
import { DataSourceSrv, setDataSourceSrv } from '@grafana/runtime';

import { ConfigEditor } from './ConfigEditor';
import { FeedbackDataSourceOptions, FeedbackSecureJsonData } from '../types';
import { setupComboboxEnvironment } from '../test/combobox';

// The Tempo picker (DataSourcePicker) reads the installed data sources from the DataSourceSrv.
const tempo = {
  uid: 'tempo-uid',
  name: 'Tempo prod',
  type: 'tempo',
  meta: { id: 'tempo', info: { logos: { small: '' } } },
};
const getList = jest.fn((_filters: { type?: string | string[] }) => [tempo]);

beforeAll(() => {
  // the picker's menu uses IntersectionObserver and measures itself
  setupComboboxEnvironment();
  setDataSourceSrv({
    getList,
    getInstanceSettings: (ref: unknown) => (ref === 'tempo-uid' || ref === 'Tempo prod' ? tempo : undefined),
  } as unknown as DataSourceSrv);
});

type Settings = DataSourceSettings<FeedbackDataSourceOptions, FeedbackSecureJsonData>;

function makeOptions(overrides: Partial<Settings> = {}): Settings {
  // (the deprecated `database` field is left out)
  return {
    id: 1,
    uid: 'fb',
    orgId: 1,
    name: 'Feedback Loop',
    type: 'feedbackloop-modelfeedback-datasource',
    typeName: 'Feedback Loop',
    typeLogoUrl: '',
    access: 'proxy',
    url: '',
    user: '',
    basicAuth: false,
    basicAuthUser: '',
    isDefault: false,
    withCredentials: false,
    readOnly: false,
    version: 1,
    jsonData: {},
    secureJsonFields: {},
    secureJsonData: {},
    ...overrides,
  } as Settings;
}

function setup(overrides: Partial<Settings> = {}) {
  const onOptionsChange = jest.fn();
  const options = makeOptions(overrides);
  render(<ConfigEditor options={options} onOptionsChange={onOptionsChange} />);
  return { onOptionsChange, options };
}

describe('ConfigEditor', () => {
  it('renders the Loki settings with the default selector as placeholder and the default source', () => {
    setup();
    expect(screen.getByLabelText(/^URL/)).toHaveValue('');
    expect(screen.getByLabelText(/^Stream selector/)).toHaveAttribute('placeholder', '{service_name="model-feedback"}');
    expect(screen.getByLabelText(/^Tenant/)).toBeInTheDocument();
    expect(screen.getByLabelText(/^Basic auth user/)).toBeInTheDocument();
    expect(screen.getByLabelText(/^Basic auth password/)).toBeInTheDocument();
    expect(screen.getByLabelText(/^Bearer token/)).toBeInTheDocument();
    expect(screen.getByRole('radio', { name: 'Loki' })).toBeChecked();
    expect(screen.getByRole('radio', { name: 'Elasticsearch' })).not.toBeChecked();
  });

  it('shows stored values', () => {
    setup({
      jsonData: {
        defaultSource: 'elasticsearch',
        loki: { url: 'http://loki:3100', selector: '{app="x"}', tenant: 't1', basicAuthUser: 'me' },
      },
    });
    expect(screen.getByLabelText(/^URL/)).toHaveValue('http://loki:3100');
    expect(screen.getByLabelText(/^Stream selector/)).toHaveValue('{app="x"}');
    expect(screen.getByLabelText(/^Tenant/)).toHaveValue('t1');
    expect(screen.getByLabelText(/^Basic auth user/)).toHaveValue('me');
    expect(screen.getByRole('radio', { name: 'Elasticsearch' })).toBeChecked();
  });

  it('typing a URL sets jsonData.loki.url and keeps the other settings', () => {
    const { onOptionsChange } = setup({ jsonData: { defaultSource: 'loki', loki: { tenant: 't1' } } });
    fireEvent.change(screen.getByLabelText(/^URL/), { target: { value: 'http://loki:3100' } });
    expect(onOptionsChange).toHaveBeenCalledTimes(1);
    expect(onOptionsChange.mock.calls[0][0].jsonData).toEqual({
      defaultSource: 'loki',
      loki: { tenant: 't1', url: 'http://loki:3100' },
    });
  });

  it.each([
    ['Stream selector', 'selector', '{service_name="fb"}'],
    ['Tenant', 'tenant', 'team-a'],
    ['Basic auth user', 'basicAuthUser', 'grafana'],
  ])('typing %s sets jsonData.loki.%s', (label, key, value) => {
    const { onOptionsChange } = setup();
    fireEvent.change(screen.getByLabelText(new RegExp(`^${label}`)), { target: { value } });
    expect(onOptionsChange.mock.calls[0][0].jsonData.loki).toEqual({ [key]: value });
  });

  it('choosing a default source sets jsonData.defaultSource', () => {
    const { onOptionsChange } = setup();
    fireEvent.click(screen.getByRole('radio', { name: 'Elasticsearch' }));
    expect(onOptionsChange.mock.calls[0][0].jsonData.defaultSource).toBe('elasticsearch');
  });

  it('setting a secret writes secureJsonData only', () => {
    const { onOptionsChange } = setup({ secureJsonData: { lokiToken: 'tok' } });
    fireEvent.change(screen.getByLabelText(/^Basic auth password/), { target: { value: 's3cret' } });
    const next = onOptionsChange.mock.calls[0][0];
    expect(next.secureJsonData).toEqual({ lokiToken: 'tok', lokiPassword: 's3cret' });
    expect(next.jsonData).toEqual({});

    fireEvent.change(screen.getByLabelText(/^Bearer token/), { target: { value: 'abc' } });
    expect(onOptionsChange.mock.calls[1][0].secureJsonData).toEqual({ lokiToken: 'abc' });
  });

  it('a configured secret shows as configured and reset clears it', () => {
    const { onOptionsChange } = setup({ secureJsonFields: { lokiPassword: true, lokiToken: true } });
    expect(screen.getAllByDisplayValue('configured')).toHaveLength(2);
    const resets = screen.getAllByRole('button', { name: 'Reset' });
    expect(resets).toHaveLength(2);

    fireEvent.click(resets[0]);
    const next = onOptionsChange.mock.calls[0][0];
    expect(next.secureJsonFields).toEqual({ lokiPassword: false, lokiToken: true });
    expect(next.secureJsonData).toEqual({ lokiPassword: '' });

    fireEvent.click(resets[1]);
    expect(onOptionsChange.mock.calls[1][0].secureJsonFields).toEqual({ lokiPassword: true, lokiToken: false });
    expect(onOptionsChange.mock.calls[1][0].secureJsonData).toEqual({ lokiToken: '' });
  });
});

/** The content of a collapsible section, opening it first when it is closed. */
function openSection(name: string): HTMLElement {
  const toggle = screen.getByRole('button', { name });
  if (toggle.getAttribute('aria-expanded') !== 'true') {
    fireEvent.click(toggle);
  }
  return document.getElementById(toggle.getAttribute('aria-controls')!)!;
}

describe('ConfigEditor: Elasticsearch, Prometheus and trace sections', () => {
  it('starts with the sections of unconfigured backends closed', () => {
    setup();
    for (const name of ['Elasticsearch', 'Prometheus', 'Trace drill-down']) {
      expect(screen.getByRole('button', { name })).toHaveAttribute('aria-expanded', 'false');
    }
    expect(document.getElementById('config-es-url')).toBeNull();
    expect(document.getElementById('config-prom-url')).toBeNull();
    expect(document.getElementById('config-trace-logs-query')).toBeNull();
  });

  it('starts with configured sections open, showing the stored values', () => {
    setup({
      jsonData: {
        elasticsearch: { url: 'http://es:9200', index: 'fb-*', timeField: '@timestamp', basicAuthUser: 'elastic' },
        prometheus: { url: 'http://prom:9090', requestsQuery: 'sum(x)', latencyQuery: 'max(y)', basicAuthUser: 'p' },
        trace: { executionLogsQuery: '{app="a"} |= "${correlation_id}"', tempoDatasourceUid: 'tempo-uid' },
      },
    });
    for (const name of ['Elasticsearch', 'Prometheus', 'Trace drill-down']) {
      expect(screen.getByRole('button', { name })).toHaveAttribute('aria-expanded', 'true');
    }
    const es = openSection('Elasticsearch');
    expect(within(es).getByLabelText(/^URL/)).toHaveValue('http://es:9200');
    expect(within(es).getByLabelText(/^Index/)).toHaveValue('fb-*');
    expect(within(es).getByLabelText(/^Time field/)).toHaveValue('@timestamp');
    expect(within(es).getByLabelText(/^Basic auth user/)).toHaveValue('elastic');
    const prom = openSection('Prometheus');
    expect(within(prom).getByLabelText(/^URL/)).toHaveValue('http://prom:9090');
    expect(within(prom).getByLabelText(/^Requests query/)).toHaveValue('sum(x)');
    expect(within(prom).getByLabelText(/^Latency query/)).toHaveValue('max(y)');
    expect(within(prom).getByLabelText(/^Basic auth user/)).toHaveValue('p');
    const trace = openSection('Trace drill-down');
    expect(within(trace).getByLabelText(/^Execution logs query/)).toHaveValue('{app="a"} |= "${correlation_id}"');
    expect(within(trace).getByText('Tempo prod')).toBeInTheDocument();
  });

  it('a section with only a stored secret starts open', () => {
    setup({ secureJsonFields: { prometheusToken: true } });
    expect(screen.getByRole('button', { name: 'Prometheus' })).toHaveAttribute('aria-expanded', 'true');
    expect(screen.getByRole('button', { name: 'Elasticsearch' })).toHaveAttribute('aria-expanded', 'false');
  });

  it('shows the backend defaults as placeholders and explains the PromQL variables', () => {
    setup();
    const es = openSection('Elasticsearch');
    expect(within(es).getByLabelText(/^Index/)).toHaveAttribute('placeholder', 'model-feedback-*');
    expect(within(es).getByLabelText(/^Time field/)).toHaveAttribute('placeholder', 'timestamp');
    const prom = openSection('Prometheus');
    expect(within(prom).getByLabelText(/^Requests query/)).toHaveAttribute(
      'placeholder',
      'sum by (model_version) (increase(llm_requests_total[$__range]))'
    );
    for (const help of within(prom).getAllByText(/\$__rate_interval/)) {
      expect(help.textContent).toMatch(/\$__range, \$__interval and \$__rate_interval/);
      expect(help.textContent).toMatch(
        /\$model_id and \$model_version only inside a quoted label matcher used with =~/
      );
    }
    expect(within(prom).getAllByText(/\$__rate_interval/)).toHaveLength(2);
    const trace = openSection('Trace drill-down');
    expect(within(trace).getByLabelText(/^Execution logs query/)).toHaveAttribute(
      'placeholder',
      '{app="chatbot"} |= "${correlation_id}"'
    );
    expect(within(trace).getByText(/\$\{correlation_id\} is replaced with the correlation id/)).toBeInTheDocument();
  });

  it.each([
    ['Elasticsearch', 'URL', 'elasticsearch', 'url', 'http://es:9200'],
    ['Elasticsearch', 'Index', 'elasticsearch', 'index', 'feedback-*'],
    ['Elasticsearch', 'Time field', 'elasticsearch', 'timeField', '@timestamp'],
    ['Elasticsearch', 'Basic auth user', 'elasticsearch', 'basicAuthUser', 'elastic'],
    ['Prometheus', 'URL', 'prometheus', 'url', 'http://prom:9090'],
    ['Prometheus', 'Requests query', 'prometheus', 'requestsQuery', 'sum by (model_version) (x)'],
    ['Prometheus', 'Latency query', 'prometheus', 'latencyQuery', 'max by (model_version) (y)'],
    ['Prometheus', 'Basic auth user', 'prometheus', 'basicAuthUser', 'prom'],
    ['Trace drill-down', 'Execution logs query', 'trace', 'executionLogsQuery', '{app="x"} |= "${correlation_id}"'],
  ])('%s › typing %s sets jsonData.%s.%s and keeps the other settings', (section, label, group, key, value) => {
    const { onOptionsChange } = setup({
      jsonData: { defaultSource: 'loki', loki: { url: 'http://loki:3100' }, [group]: { other: 'kept' } },
    });
    fireEvent.change(within(openSection(section)).getByLabelText(new RegExp(`^${label}`)), { target: { value } });
    expect(onOptionsChange).toHaveBeenCalledTimes(1);
    expect(onOptionsChange.mock.calls[0][0].jsonData).toEqual({
      defaultSource: 'loki',
      loki: { url: 'http://loki:3100' },
      [group]: { other: 'kept', [key]: value },
    });
  });

  it.each([
    ['Elasticsearch', 'Basic auth password', 'elasticsearchPassword'],
    ['Elasticsearch', 'API key', 'elasticsearchApiKey'],
    ['Prometheus', 'Basic auth password', 'prometheusPassword'],
    ['Prometheus', 'Bearer token', 'prometheusToken'],
  ])('%s › setting %s writes secureJsonData.%s only', (section, label, key) => {
    const { onOptionsChange } = setup({ secureJsonData: { lokiToken: 'tok' } });
    fireEvent.change(within(openSection(section)).getByLabelText(new RegExp(`^${label}`)), {
      target: { value: 's3cret' },
    });
    const next = onOptionsChange.mock.calls[0][0];
    expect(next.secureJsonData).toEqual({ lokiToken: 'tok', [key]: 's3cret' });
    expect(next.jsonData).toEqual({});
    expect(next.secureJsonFields).toEqual({});
  });

  it.each([
    ['Elasticsearch', ['elasticsearchPassword', 'elasticsearchApiKey']],
    ['Prometheus', ['prometheusPassword', 'prometheusToken']],
  ])('%s › configured secrets show as configured and reset clears each', (section, keys) => {
    const configured = { lokiPassword: true, [keys[0]]: true, [keys[1]]: true };
    const { onOptionsChange } = setup({ secureJsonFields: configured });
    const content = openSection(section);
    expect(within(content).getAllByDisplayValue('configured')).toHaveLength(2);
    const resets = within(content).getAllByRole('button', { name: 'Reset' });
    expect(resets).toHaveLength(2);

    fireEvent.click(resets[0]);
    expect(onOptionsChange.mock.calls[0][0].secureJsonFields).toEqual({ ...configured, [keys[0]]: false });
    expect(onOptionsChange.mock.calls[0][0].secureJsonData).toEqual({ [keys[0]]: '' });
    fireEvent.click(resets[1]);
    expect(onOptionsChange.mock.calls[1][0].secureJsonFields).toEqual({ ...configured, [keys[1]]: false });
    expect(onOptionsChange.mock.calls[1][0].secureJsonData).toEqual({ [keys[1]]: '' });
  });

  it('the Tempo picker lists tempo data sources and stores the chosen uid', async () => {
    const { onOptionsChange } = setup({ jsonData: { trace: { executionLogsQuery: 'q' } } });
    const input = within(openSection('Trace drill-down')).getByLabelText(/^Tempo data source/);
    expect(getList).toHaveBeenCalledWith(expect.objectContaining({ type: 'tempo' }));
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    fireEvent.click(await screen.findByText('Tempo prod'));
    expect(onOptionsChange.mock.calls[0][0].jsonData).toEqual({
      trace: { executionLogsQuery: 'q', tempoDatasourceUid: 'tempo-uid' },
    });
  });
});
