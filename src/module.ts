import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import { FeedbackDataSourceOptions, FeedbackQuery, FeedbackSecureJsonData } from './types';

export const plugin = new DataSourcePlugin<
  DataSource,
  FeedbackQuery,
  FeedbackDataSourceOptions,
  FeedbackSecureJsonData
>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
