// Builds dist/: ES modules (client.js, widget.js and their shared chunk), the standalone
// feedback-thumbs.js for a <script> tag, and the type declarations; prints the sizes and fails
// over the budget.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { BUDGET, measure, moduleFiles } from './size.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
fs.rmSync(dist, { recursive: true, force: true });

// tsconfig named: esbuild would otherwise also read the plugin's, up the tree.
const common = {
  tsconfig: path.join(root, 'tsconfig.json'),
  bundle: true,
  minify: true,
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
};
await esbuild.build({
  ...common,
  entryPoints: ['src/client.ts', 'src/widget.ts'].map((f) => path.join(root, f)),
  outdir: dist,
  format: 'esm',
  splitting: true,
  chunkNames: 'chunk-[hash]',
});
await esbuild.build({
  ...common,
  entryPoints: [path.join(root, 'src/standalone.ts')],
  outfile: path.join(dist, 'feedback-thumbs.js'),
  format: 'iife',
  globalName: 'FeedbackLoop',
});
const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
  cwd: root,
  stdio: 'inherit',
});
if (tsc.status !== 0) {
  process.exit(tsc.status ?? 1);
}

let over = false;
for (const [name, files] of [
  ['feedback-thumbs.js (standalone: widget + client)', [path.join(dist, 'feedback-thumbs.js')]],
  ['widget.js + chunks (ES module: widget + client)', moduleFiles(dist, 'widget.js')],
  ['client.js + chunks (ES module: client)', moduleFiles(dist, 'client.js')],
]) {
  const s = measure(files);
  const inBudget = name.includes('widget')
    ? s.gzip <= BUDGET
      ? ' (budget 12288: ok)'
      : ' OVER THE BUDGET OF 12288'
    : '';
  over ||= s.gzip > BUDGET;
  console.log(`${name}: ${s.minified} bytes minified, ${s.gzip} bytes minified + gzip${inBudget}`);
}
process.exit(over ? 1 : 0);
