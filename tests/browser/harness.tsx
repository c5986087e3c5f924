/*
 * The browser harness (tests/browser/editors.spec.mjs): the plugin's real QueryEditor and ConfigEditor with the
 * Grafana theme, a DataSource whose resources answer canned lists, and the current query / options as JSON below
 * each editor. Bundled by tests/browser/webpack.config.ts with `@grafana/runtime` aliased to runtime-stub.ts; not
 * part of the plugin build.
 */
import React, { useCallback, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { createTheme, DataSourceInstanceSettings, DataSourceSettings, dateTime, TimeRange } from '@grafana/data';
import { GlobalStyles, PortalContainer, ThemeContext } from '@grafana/ui';

import { ConfigEditor } from '../../src/components/ConfigEditor';
import { QueryEditor } from '../../src/components/QueryEditor';
import { DataSource } from '../../src/datasource';
import { FeedbackDataSourceOptions, FeedbackQuery, FeedbackSecureJsonData } from '../../src/types';

/** What each resource endpoint answers. */
const RESOURCES: Record<string, string[]> = {
  'model-ids': ['assistant', 'summarizer'],
  'model-versions': ['2026-11-01.1', '2026-11-01.2'],
  tags: ['bias', 'needs_citation', 'tone'],
  fields: ['attributes.plan', 'correlation_id', 'model_id', 'model_version', 'tag'],
  'field-values': ['v1.0', 'v2.0'],
};

const instanceSettings = {
  id: 1,
  uid: 'fb',
  type: 'feedbackloop-modelfeedback-datasource',
  name: 'Feedback Loop',
  access: 'proxy',
  readOnly: false,
  jsonData: { defaultSource: 'loki' },
  meta: {},
} as unknown as DataSourceInstanceSettings<FeedbackDataSourceOptions>;

/** Every resource request, in order: `path?param=value&...` (read by the test). */
const resourceCalls: string[] = [];

const datasource = new DataSource(instanceSettings);
datasource.getResource = async <T,>(path: string, params?: Record<string, unknown>): Promise<T> => {
  const query = Object.entries(params ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('&');
  resourceCalls.push(query ? `${path}?${query}` : path);
  return (RESOURCES[path] ?? []) as T;
};

const FROM = Date.UTC(2026, 10, 1, 0, 0);
const range: TimeRange = {
  from: dateTime(FROM),
  to: dateTime(FROM + 6 * 3_600_000),
  raw: { from: 'now-6h', to: 'now' },
};

const initialOptions = {
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
} as unknown as DataSourceSettings<FeedbackDataSourceOptions, FeedbackSecureJsonData>;

const theme = createTheme({ colors: { mode: 'dark' } });

const sectionStyle: React.CSSProperties = { padding: 16, width: 960, background: theme.colors.background.primary };
const preStyle: React.CSSProperties = { marginTop: 12, fontSize: 12, whiteSpace: 'pre-wrap' };

/** Sorts object keys, so that queries can be compared as JSON text. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(canonical);
  }
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, canonical(record[k])])
    );
  }
  return value;
}

/** The query at each onRunQuery call, as canonical JSON (read by the test). */
const runs: string[] = [];

function QueryEditorSection() {
  const [query, setQuery] = useState<FeedbackQuery>({ refId: 'A' });
  const latest = useRef(query);
  const [runCount, setRunCount] = useState(0);
  const onChange = useCallback((next: FeedbackQuery) => {
    latest.current = next;
    setQuery(next);
  }, []);
  const onRunQuery = useCallback(() => {
    runs.push(JSON.stringify(canonical(latest.current)));
    setRunCount(runs.length);
  }, []);
  return (
    <section data-testid="query-editor" style={sectionStyle}>
      <h3>Query editor</h3>
      <QueryEditor datasource={datasource} query={query} onChange={onChange} onRunQuery={onRunQuery} range={range} />
      <pre data-testid="query-json" style={preStyle}>
        {JSON.stringify(query, null, 2)}
      </pre>
      <div data-testid="query-runs">onRunQuery calls: {runCount}</div>
    </section>
  );
}

function ConfigEditorSection() {
  const [options, setOptions] = useState(initialOptions);
  return (
    <section data-testid="config-editor" style={sectionStyle}>
      <h3>Config editor</h3>
      <ConfigEditor options={options} onOptionsChange={setOptions} />
      <pre data-testid="options-json" style={preStyle}>
        {JSON.stringify({ jsonData: options.jsonData, secureJsonData: options.secureJsonData }, null, 2)}
      </pre>
    </section>
  );
}

function Harness() {
  return (
    <ThemeContext.Provider value={theme}>
      <GlobalStyles />
      <QueryEditorSection />
      <ConfigEditorSection />
      <PortalContainer />
    </ThemeContext.Provider>
  );
}

declare global {
  interface Window {
    harness: { resourceCalls: string[]; runs: string[] };
  }
}
window.harness = { resourceCalls, runs };

createRoot(document.getElementById('root')!).render(<Harness />);
