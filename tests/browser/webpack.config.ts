/*
 * Bundles the browser harness (harness.tsx) with everything it imports, for tests/browser/editors.spec.mjs:
 * `webpack -c tests/browser/webpack.config.ts` writes harness.js and index.html to $BROWSER_HARNESS_DIR (default
 * <tmpdir>/modelfeedback-browser-harness). Not the plugin build: nothing is external, and `@grafana/runtime` is the
 * stub in runtime-stub.ts (which re-exports the real package as `grafana-runtime-original`).
 */
import os from 'os';
import path from 'path';
import webpack, { type Configuration } from 'webpack';

const root = path.resolve(__dirname, '..', '..');
const outDir = process.env.BROWSER_HARNESS_DIR || path.join(os.tmpdir(), 'modelfeedback-browser-harness');

const INDEX_HTML = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Feedback Loop editors</title>
    <script>
      // What Grafana's index page provides; @grafana/runtime's config reads it on load.
      window.grafanaBootData = { assets: { dark: '', light: '' }, settings: {}, user: {}, navTree: [] };
    </script>
  </head>
  <body>
    <div id="root"></div>
    <script src="harness.js"></script>
  </body>
</html>
`;

/** Writes index.html next to the bundle. */
class IndexHtmlPlugin {
  apply(compiler: webpack.Compiler) {
    compiler.hooks.thisCompilation.tap('IndexHtmlPlugin', (compilation) => {
      compilation.hooks.processAssets.tap(
        { name: 'IndexHtmlPlugin', stage: webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL },
        () => compilation.emitAsset('index.html', new webpack.sources.RawSource(INDEX_HTML))
      );
    });
  }
}

const config: Configuration = {
  mode: 'development',
  devtool: false,
  context: root,
  entry: { harness: path.join(__dirname, 'harness.tsx') },
  output: { path: outDir, filename: '[name].js', publicPath: '', clean: true },
  cache: {
    type: 'filesystem',
    cacheDirectory: path.join(root, 'node_modules', '.cache', 'browser-harness'),
    buildDependencies: { config: [__filename] },
  },
  module: {
    rules: [
      {
        exclude: /node_modules/,
        test: /\.[tj]sx?$/,
        use: {
          loader: 'swc-loader',
          options: {
            jsc: {
              target: 'es2020',
              parser: { syntax: 'typescript', tsx: true },
              transform: { react: { runtime: 'classic' } },
            },
          },
        },
      },
      { test: /\.css$/, use: ['style-loader', 'css-loader'] },
      { test: /\.(png|jpe?g|gif|svg|woff2?|eot|ttf|otf)$/, type: 'asset/resource' },
    ],
  },
  resolve: {
    extensions: ['.js', '.jsx', '.ts', '.tsx'],
    alias: {
      '@grafana/runtime$': path.join(__dirname, 'runtime-stub.ts'),
      'grafana-runtime-original$': path.join(root, 'node_modules', '@grafana', 'runtime', 'dist', 'esm', 'index.mjs'),
    },
  },
  plugins: [new IndexHtmlPlugin()],
  performance: { hints: false },
  stats: 'errors-warnings',
};

export default config;
