import { CustomVariableSupport, DataQueryRequest, DataQueryResponse, createDataFrame, FieldType } from '@grafana/data';
import { from, Observable } from 'rxjs';
import { map } from 'rxjs/operators';

import { VariableQueryEditor } from './components/VariableQueryEditor';
import type { DataSource } from './datasource';
import { FeedbackDataSourceOptions, FeedbackQuery, FeedbackVariableDataQuery } from './types';

/**
 * Query variables (docs/queries.md) with their own editor: the variable's query is `{resource, modelId?, field?,
 * source?}`, run by DataSource.metricFindQuery over the variable's time range. The answer is one frame with a `text`
 * field, which Grafana turns into the variable's options.
 */
export class FeedbackVariableSupport extends CustomVariableSupport<
  DataSource,
  FeedbackVariableDataQuery,
  FeedbackQuery,
  FeedbackDataSourceOptions
> {
  editor = VariableQueryEditor;

  constructor(private readonly datasource: DataSource) {
    super();
  }

  query(request: DataQueryRequest<FeedbackVariableDataQuery>): Observable<DataQueryResponse> {
    const target = request.targets[0];
    return from(this.datasource.metricFindQuery(target, { range: request.range, scopedVars: request.scopedVars })).pipe(
      map((values) => ({
        data: [
          createDataFrame({
            refId: target?.refId,
            fields: [{ name: 'text', type: FieldType.string, values: values.map((v) => v.text) }],
          }),
        ],
      }))
    );
  }
}
