/*
 * Extends the scaffolded configuration in .config/ (which create-plugin owns and may overwrite), as described in
 * .config/README.md: the dashboards live in dashboards/ at the repository root because they are also provisioned
 * into the dev stack from there, and the scaffold only copies files from src/. Copying them here keeps one source
 * of truth and ships them at the paths src/plugin.json `includes` names.
 */
import CopyWebpackPlugin from 'copy-webpack-plugin';
import path from 'path';
import type { Configuration } from 'webpack';
import { merge } from 'webpack-merge';

import grafanaConfig, { type Env } from './.config/webpack/webpack.config.ts';

const config = async (env: Env): Promise<Configuration> => {
  const baseConfig = await grafanaConfig(env);
  return merge(baseConfig, {
    plugins: [
      new CopyWebpackPlugin({
        patterns: [{ from: path.resolve(process.cwd(), 'dashboards', '*.json'), to: 'dashboards/[name][ext]' }],
      }),
    ],
  });
};

export default config;
