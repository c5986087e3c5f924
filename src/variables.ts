import { FeedbackVariableQuery, VARIABLE_RESOURCES, VariableResource } from './types';

function isResource(value: unknown): value is VariableResource {
  return typeof value === 'string' && VARIABLE_RESOURCES.some((r) => r.value === value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** What a new variable (no resource chosen yet) lists; the editor shows the same. */
export const DEFAULT_VARIABLE_QUERY: FeedbackVariableQuery = { resource: 'model-ids' };

/**
 * Reads a stored variable query: the editor's object (Grafana adds a refId), its JSON text (e.g. from
 * provisioning), or a bare resource name such as `tags`. An empty query (a new variable) is the default one;
 * anything else answers undefined.
 */
export function parseVariableQuery(raw: unknown): FeedbackVariableQuery | undefined {
  let value = raw;
  if (value === undefined || value === null) {
    return { ...DEFAULT_VARIABLE_QUERY };
  }
  if (typeof value === 'string') {
    const text = value.trim();
    if (text === '') {
      return { ...DEFAULT_VARIABLE_QUERY };
    }
    if (isResource(text)) {
      return { resource: text };
    }
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return undefined;
  }
  const obj = value as Record<string, unknown>;
  if (obj.resource === undefined || obj.resource === '') {
    return { ...DEFAULT_VARIABLE_QUERY };
  }
  if (!isResource(obj.resource)) {
    return undefined;
  }
  const query: FeedbackVariableQuery = { resource: obj.resource };
  const modelId = optionalString(obj.modelId);
  const field = optionalString(obj.field);
  const source = optionalString(obj.source);
  if (modelId !== undefined) {
    query.modelId = modelId;
  }
  if (field !== undefined) {
    query.field = field;
  }
  if (source !== undefined) {
    query.source = source;
  }
  return query;
}

/** The variable's definition shown in the dashboard's variable list, e.g. `model-versions(model_id=$model_id)`. */
export function describeVariableQuery(query: FeedbackVariableQuery): string {
  const params: string[] = [];
  if (query.resource === 'model-versions' && query.modelId) {
    params.push(`model_id=${query.modelId}`);
  }
  if (query.resource === 'field-values' && query.field) {
    params.push(`field=${query.field}`);
  }
  if (query.source) {
    params.push(`source=${query.source}`);
  }
  return params.length > 0 ? `${query.resource}(${params.join(', ')})` : query.resource;
}
