import { describeVariableQuery, parseVariableQuery } from './variables';

describe('parseVariableQuery', () => {
  it('reads the editor object (ignoring refId and unknown keys)', () => {
    expect(
      parseVariableQuery({ refId: 'V', resource: 'model-versions', modelId: '$model_id', source: 'loki', x: 1 })
    ).toEqual({ resource: 'model-versions', modelId: '$model_id', source: 'loki' });
    expect(parseVariableQuery({ resource: 'field-values', field: 'user_geo', modelId: '' })).toEqual({
      resource: 'field-values',
      field: 'user_geo',
    });
  });

  it('reads JSON text and bare resource names', () => {
    expect(parseVariableQuery(' {"resource":"tags","source":"elasticsearch"} ')).toEqual({
      resource: 'tags',
      source: 'elasticsearch',
    });
    expect(parseVariableQuery('model-ids')).toEqual({ resource: 'model-ids' });
  });

  it('an empty query is the default (model ids); anything else is undefined', () => {
    for (const empty of [undefined, null, '', '  ', { refId: 'V' }, { resource: '' }]) {
      expect(parseVariableQuery(empty)).toEqual({ resource: 'model-ids' });
    }
    for (const bad of ['fields', 'label_values(x)', '[1]', 42, [], { resource: 'fields' }, { resource: 3 }]) {
      expect(parseVariableQuery(bad)).toBeUndefined();
    }
  });
});

describe('describeVariableQuery', () => {
  it('names the resource and the parameters it uses', () => {
    expect(describeVariableQuery({ resource: 'tags' })).toBe('tags');
    expect(describeVariableQuery({ resource: 'model-versions', modelId: '$model_id', source: 'loki' })).toBe(
      'model-versions(model_id=$model_id, source=loki)'
    );
    expect(describeVariableQuery({ resource: 'field-values', field: 'user_geo' })).toBe('field-values(field=user_geo)');
    expect(describeVariableQuery({ resource: 'model-ids', field: 'ignored' })).toBe('model-ids');
  });
});
