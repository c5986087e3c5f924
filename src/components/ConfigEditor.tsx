import React, { ChangeEvent, ReactNode, useState } from 'react';
import { DataSourceInstanceSettings, DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { DataSourcePicker } from '@grafana/runtime';
import { CollapsableSection, Field, FieldSet, Input, RadioButtonGroup, SecretInput } from '@grafana/ui';

import {
  CONFIG_DEFAULTS,
  DEFAULT_SOURCE,
  ElasticsearchSettings,
  FeedbackDataSourceOptions,
  FeedbackSecureJsonData,
  FeedbackSource,
  LokiSettings,
  PrometheusSettings,
  SOURCES,
  TraceSettings,
} from '../types';
import { ReviewClustersSettings } from './ReviewClustersSettings';

export type ConfigEditorProps = DataSourcePluginOptionsEditorProps<FeedbackDataSourceOptions, FeedbackSecureJsonData>;

type SecretKey = keyof FeedbackSecureJsonData;

/** The jsonData sections that hold an object of string settings. */
interface Sections {
  loki: LokiSettings;
  elasticsearch: ElasticsearchSettings;
  prometheus: PrometheusSettings;
  trace: TraceSettings;
}
type SectionName = keyof Sections;

const INPUT_WIDTH = 60;
const QUERY_WIDTH = 80;

/** Variables the PromQL templates may use (expanded by the backend). */
const PROMQL_VARIABLES =
  'Variables: $__range, $__interval and $__rate_interval (PromQL durations); $model_id and $model_version only ' +
  'inside a quoted label matcher used with =~, e.g. {model_version=~"$model_version"} (they become an ' +
  'alternation of the versions being compared).';

export const EXECUTION_LOGS_PLACEHOLDER = '{app="chatbot"} |= "${correlation_id}"';

/** A section with any setting or stored secret starts open. */
function hasSettings(values: object | undefined, secrets: boolean[]): boolean {
  return Object.values(values ?? {}).some((v) => typeof v === 'string' && v !== '') || secrets.some(Boolean);
}

export function ConfigEditor({ options, onOptionsChange }: ConfigEditorProps) {
  const { jsonData, secureJsonFields, secureJsonData } = options;
  const loki = jsonData.loki ?? {};
  const elasticsearch = jsonData.elasticsearch ?? {};
  const prometheus = jsonData.prometheus ?? {};
  const trace = jsonData.trace ?? {};

  // Computed once: a section the user opens or closes stays that way while they type.
  const [initiallyOpen] = useState(() => ({
    elasticsearch: hasSettings(jsonData.elasticsearch, [
      !!secureJsonFields?.elasticsearchPassword,
      !!secureJsonFields?.elasticsearchApiKey,
    ]),
    prometheus: hasSettings(jsonData.prometheus, [
      !!secureJsonFields?.prometheusPassword,
      !!secureJsonFields?.prometheusToken,
    ]),
    trace: hasSettings(jsonData.trace, []),
  }));

  const onDefaultSourceChange = (defaultSource: FeedbackSource) => {
    onOptionsChange({ ...options, jsonData: { ...jsonData, defaultSource } });
  };

  const setSetting = <S extends SectionName>(section: S, key: keyof Sections[S], value: string) => {
    onOptionsChange({
      ...options,
      jsonData: { ...jsonData, [section]: { ...(jsonData[section] ?? {}), [key]: value } },
    });
  };

  const onSettingChange =
    <S extends SectionName>(section: S, key: keyof Sections[S]) =>
    (event: ChangeEvent<HTMLInputElement>) =>
      setSetting(section, key, event.target.value);

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

  const secret = (key: SecretKey, id: string, label: string, description: ReactNode, placeholder: string) => (
    <Field label={label} description={description}>
      <SecretInput
        id={id}
        width={INPUT_WIDTH}
        placeholder={placeholder}
        isConfigured={!!secureJsonFields?.[key]}
        value={secureJsonData?.[key] ?? ''}
        onChange={onSecretChange(key)}
        onReset={onSecretReset(key)}
      />
    </Field>
  );

  /** Basic auth user and password of one backend; elasticsearch adds that an API key is the alternative. */
  const basicAuth = (
    section: 'loki' | 'elasticsearch' | 'prometheus',
    idPrefix: string,
    passwordKey: SecretKey,
    alternative = ''
  ) => (
    <>
      <Field
        label="Basic auth user"
        description={`User for HTTP basic authentication; its password is below.${alternative}`}
      >
        <Input
          id={`config-${idPrefix}-basic-auth-user`}
          width={INPUT_WIDTH}
          placeholder="user"
          autoComplete="off"
          value={jsonData[section]?.basicAuthUser ?? ''}
          onChange={onSettingChange(section, 'basicAuthUser')}
        />
      </Field>
      {secret(
        passwordKey,
        `config-${idPrefix}-password`,
        'Basic auth password',
        'Stored encrypted; only sent to the backend.',
        'password'
      )}
    </>
  );

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
            onChange={onSettingChange('loki', 'url')}
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
            onChange={onSettingChange('loki', 'selector')}
          />
        </Field>
        <Field label="Tenant" description="Sent as X-Scope-OrgID for multi-tenant Loki. Leave empty otherwise.">
          <Input
            id="config-loki-tenant"
            width={INPUT_WIDTH}
            placeholder="tenant id"
            value={loki.tenant ?? ''}
            onChange={onSettingChange('loki', 'tenant')}
          />
        </Field>
        {basicAuth('loki', 'loki', 'lokiPassword')}
        {secret(
          'lokiToken',
          'config-loki-token',
          'Bearer token',
          'Sent as Authorization: Bearer <token>. Stored encrypted; only sent to the backend.',
          'token'
        )}
      </FieldSet>

      <CollapsableSection label="Elasticsearch" isOpen={initiallyOpen.elasticsearch}>
        <Field
          label="URL"
          description="Base URL of Elasticsearch (or OpenSearch). Without it, Elasticsearch is not used."
        >
          <Input
            id="config-es-url"
            width={INPUT_WIDTH}
            placeholder="http://elasticsearch:9200"
            value={elasticsearch.url ?? ''}
            onChange={onSettingChange('elasticsearch', 'url')}
          />
        </Field>
        <Field
          label="Index"
          description="Index pattern, index or data stream of the feedback events. Empty: the default shown."
        >
          <Input
            id="config-es-index"
            width={INPUT_WIDTH}
            placeholder={CONFIG_DEFAULTS.elasticsearchIndex}
            value={elasticsearch.index ?? ''}
            onChange={onSettingChange('elasticsearch', 'index')}
          />
        </Field>
        <Field label="Time field" description="The date field of the event time. Empty: the default shown.">
          <Input
            id="config-es-time-field"
            width={INPUT_WIDTH}
            placeholder={CONFIG_DEFAULTS.elasticsearchTimeField}
            value={elasticsearch.timeField ?? ''}
            onChange={onSettingChange('elasticsearch', 'timeField')}
          />
        </Field>
        {basicAuth('elasticsearch', 'es', 'elasticsearchPassword', ' Use either basic auth or an API key.')}
        {secret(
          'elasticsearchApiKey',
          'config-es-api-key',
          'API key',
          'Sent as Authorization: ApiKey <key> (the encoded key). Stored encrypted; only sent to the backend.',
          'API key'
        )}
      </CollapsableSection>

      <CollapsableSection label="Prometheus" isOpen={initiallyOpen.prometheus}>
        <Field
          label="URL"
          description="Base URL of the Prometheus HTTP API with the model-serving metrics. Needed for requests, per 1k requests and the versions table."
        >
          <Input
            id="config-prom-url"
            width={INPUT_WIDTH}
            placeholder="http://prometheus:9090"
            value={prometheus.url ?? ''}
            onChange={onSettingChange('prometheus', 'url')}
          />
        </Field>
        <Field
          label="Requests query"
          description={`PromQL giving the number of model requests per model_version over the query's time range (aggregate with sum by (model_version)); used by the per 1k requests metric and the versions table. Empty: the default shown. ${PROMQL_VARIABLES}`}
        >
          <Input
            id="config-prom-requests-query"
            width={QUERY_WIDTH}
            placeholder={CONFIG_DEFAULTS.prometheusRequestsQuery}
            value={prometheus.requestsQuery ?? ''}
            onChange={onSettingChange('prometheus', 'requestsQuery')}
          />
        </Field>
        <Field
          label="Latency query"
          description={`Optional PromQL giving a latency per model_version (e.g. p95 seconds), shown in the versions table. Empty: no latency column. ${PROMQL_VARIABLES}`}
        >
          <Input
            id="config-prom-latency-query"
            width={QUERY_WIDTH}
            placeholder='histogram_quantile(0.95, sum by (model_version, le) (rate(llm_request_duration_seconds_bucket{model_version=~"$model_version"}[$__rate_interval])))'
            value={prometheus.latencyQuery ?? ''}
            onChange={onSettingChange('prometheus', 'latencyQuery')}
          />
        </Field>
        {basicAuth('prometheus', 'prom', 'prometheusPassword')}
        {secret(
          'prometheusToken',
          'config-prom-token',
          'Bearer token',
          'Sent as Authorization: Bearer <token>. Stored encrypted; only sent to the backend.',
          'token'
        )}
      </CollapsableSection>

      <CollapsableSection label="Trace drill-down" isOpen={initiallyOpen.trace}>
        <Field
          label="Execution logs query"
          description="LogQL run on the Loki above for a trace query: the application's own logs of the traced execution. ${correlation_id} is replaced with the correlation id. Empty: no execution logs."
        >
          <Input
            id="config-trace-logs-query"
            width={QUERY_WIDTH}
            placeholder={EXECUTION_LOGS_PLACEHOLDER}
            value={trace.executionLogsQuery ?? ''}
            onChange={onSettingChange('trace', 'executionLogsQuery')}
          />
        </Field>
        <Field
          label="Tempo data source"
          htmlFor="config-trace-tempo"
          description="Where the trace of a correlation id (a W3C trace id) is opened from the trace view. Optional."
        >
          <DataSourcePicker
            inputId="config-trace-tempo"
            type="tempo"
            width={INPUT_WIDTH}
            noDefault
            placeholder="Choose a Tempo data source"
            current={trace.tempoDatasourceUid || null}
            onChange={(ds: DataSourceInstanceSettings) => setSetting('trace', 'tempoDatasourceUid', ds.uid)}
            onClear={() => setSetting('trace', 'tempoDatasourceUid', '')}
          />
        </Field>
      </CollapsableSection>

      <ReviewClustersSettings options={options} onOptionsChange={onOptionsChange} />
    </>
  );
}
