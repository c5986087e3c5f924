import React from 'react';
import { fireEvent, render, screen } from '@testing-library/react';
import { DataSourceSettings } from '@grafana/data';

import { ConfigEditor } from './ConfigEditor';
import { FeedbackDataSourceOptions, FeedbackSecureJsonData } from '../types';

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
