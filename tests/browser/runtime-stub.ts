/*
 * Stands in for `@grafana/runtime` in the browser harness (webpack aliases the package to this file). Everything
 * is the real runtime except the services Grafana would provide: a template service with two dashboard variables,
 * a backend service that fails any request (the harness's data source answers its resources itself) and a data
 * source service that lists one Tempo data source for the config editor's picker. They are also registered with
 * the real runtime, whose own components (DataSourcePicker) read them from there.
 */
import type { DataSourceInstanceSettings, TypedVariableModel } from '@grafana/data';
import type { BackendSrv, DataSourceSrv, TemplateSrv } from 'grafana-runtime-original';
import { setBackendSrv, setDataSourceSrv, setTemplateSrv } from 'grafana-runtime-original';

export * from 'grafana-runtime-original';

const variables = [{ name: 'model_id' }, { name: 'tag' }] as unknown as TypedVariableModel[];

const templateSrv = {
  getVariables: () => variables,
  replace: (target?: string) => target ?? '',
  containsTemplate: (target?: string) => !!target && target.includes('$'),
  updateTimeRange: () => {},
} as unknown as TemplateSrv;

const unexpected = (what: string) => () => {
  throw new Error(`browser harness: unexpected backend request (${what})`);
};

const backendSrv = new Proxy({} as BackendSrv, {
  // (not a thenable: `then` and symbols are absent)
  get: (_target, name) => (typeof name === 'string' && name !== 'then' ? unexpected(name) : undefined),
});

export const TEMPO = {
  uid: 'tempo-uid',
  name: 'Tempo prod',
  type: 'tempo',
  meta: { id: 'tempo', name: 'Tempo', info: { logos: { small: '', large: '' } } },
} as unknown as DataSourceInstanceSettings;

const dataSourceSrv = {
  getList: () => [TEMPO],
  getInstanceSettings: (ref: unknown) => {
    const key = typeof ref === 'object' && ref !== null ? (ref as { uid?: string }).uid : ref;
    return key === TEMPO.uid || key === TEMPO.name ? TEMPO : undefined;
  },
  get: () => Promise.reject(new Error('browser harness: no data source instances')),
  reload: () => {},
  registerRuntimeDataSource: () => {},
} as unknown as DataSourceSrv;

setTemplateSrv(templateSrv);
setBackendSrv(backendSrv);
setDataSourceSrv(dataSourceSrv);

export function getTemplateSrv(): TemplateSrv {
  return templateSrv;
}

export function getBackendSrv(): BackendSrv {
  return backendSrv;
}

export function getDataSourceSrv(): DataSourceSrv {
  return dataSourceSrv;
}
