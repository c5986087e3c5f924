import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { Field, FieldSet, Input, RadioButtonGroup, SecretInput } from '@grafana/ui';

import {
  CONFIG_DEFAULTS,
  DEFAULT_SOURCE,
  FeedbackDataSourceOptions,
  FeedbackSecureJsonData,
  FeedbackSource,
  LokiSettings,
  SOURCES,
} from '../types';

export type ConfigEditorProps = DataSourcePluginOptionsEditorProps<FeedbackDataSourceOptions, FeedbackSecureJsonData>;

type SecretKey = keyof FeedbackSecureJsonData;

const INPUT_WIDTH = 60;

export function ConfigEditor({ options, onOptionsChange }: ConfigEditorProps) {
  const { jsonData, secureJsonFields, secureJsonData } = options;
  const loki = jsonData.loki ?? {};

  const onDefaultSourceChange = (defaultSource: FeedbackSource) => {
    onOptionsChange({ ...options, jsonData: { ...jsonData, defaultSource } });
  };

  const onLokiChange = (key: keyof LokiSettings) => (event: ChangeEvent<HTMLInputElement>) => {
    onOptionsChange({
      ...options,
      jsonData: { ...jsonData, loki: { ...loki, [key]: event.target.value } },
    });
  };

  const onSecretChange = (key: SecretKey) => (event: ChangeEvent<HTMLInputElement>) => {
    onOptionsChange({
      ...options,
      secureJsonData: { ...secureJsonData, [key]: event.target.value },
    });
  };

  const onSecretReset = (key: SecretKey) => () => {
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secureJsonFields, [key]: false },
      secureJsonData: { ...secureJsonData, [key]: '' },
    });
  };

  return (
    <>
      <FieldSet label="General">
        <Field
          label="Default source"
          description="Where feedback events are read from when a query does not choose a source."
        >
          <RadioButtonGroup<FeedbackSource>
            id="config-default-source"
            options={SOURCES}
            value={jsonData.defaultSource ?? DEFAULT_SOURCE}
            onChange={onDefaultSourceChange}
          />
        </Field>
      </FieldSet>

      <FieldSet label="Loki">
        <Field label="URL" description="Base URL of the Loki HTTP API. Without it, Loki is not used.">
          <Input
            id="config-loki-url"
            width={INPUT_WIDTH}
            placeholder="http://loki:3100"
            value={loki.url ?? ''}
            onChange={onLokiChange('url')}
          />
        </Field>
        <Field
          label="Stream selector"
          description="LogQL stream selector of the feedback events. Empty: the default shown."
        >
          <Input
            id="config-loki-selector"
            width={INPUT_WIDTH}
            placeholder={CONFIG_DEFAULTS.lokiSelector}
            value={loki.selector ?? ''}
            onChange={onLokiChange('selector')}
          />
        </Field>
        <Field label="Tenant" description="Sent as X-Scope-OrgID for multi-tenant Loki. Leave empty otherwise.">
          <Input
            id="config-loki-tenant"
            width={INPUT_WIDTH}
            placeholder="tenant id"
            value={loki.tenant ?? ''}
            onChange={onLokiChange('tenant')}
          />
        </Field>
        <Field label="Basic auth user" description="User for HTTP basic authentication; its password is below.">
          <Input
            id="config-loki-basic-auth-user"
            width={INPUT_WIDTH}
            placeholder="user"
            autoComplete="off"
            value={loki.basicAuthUser ?? ''}
            onChange={onLokiChange('basicAuthUser')}
          />
        </Field>
        <Field label="Basic auth password" description="Stored encrypted; only sent to the backend.">
          <SecretInput
            id="config-loki-password"
            width={INPUT_WIDTH}
            placeholder="password"
            isConfigured={!!secureJsonFields?.lokiPassword}
            value={secureJsonData?.lokiPassword ?? ''}
            onChange={onSecretChange('lokiPassword')}
            onReset={onSecretReset('lokiPassword')}
          />
        </Field>
        <Field
          label="Bearer token"
          description="Sent as Authorization: Bearer <token>. Stored encrypted; only sent to the backend."
        >
          <SecretInput
            id="config-loki-token"
            width={INPUT_WIDTH}
            placeholder="token"
            isConfigured={!!secureJsonFields?.lokiToken}
            value={secureJsonData?.lokiToken ?? ''}
            onChange={onSecretChange('lokiToken')}
            onReset={onSecretReset('lokiToken')}
          />
        </Field>
      </FieldSet>
    </>
  );
}
