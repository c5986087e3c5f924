// The build's promises: widget + client within the size budget (docs/widget.md), the standalone file usable from a
// <script> tag, and the copy the demo embeds (pkg/demo/chat) identical to this build.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { describe, it } from 'node:test';
import { BUDGET, measure, moduleFiles } from '../scripts/size.mjs';
import { dist, repo } from './harness.mjs';

describe('build', () => {
  it(`widget + client are at most ${BUDGET} bytes minified + gzip`, () => {
    for (const files of [[path.join(dist, 'feedback-thumbs.js')], moduleFiles(dist, 'widget.js')]) {
      const { gzip } = measure(files);
      assert.ok(gzip <= BUDGET, `${files.map((f) => path.basename(f))}: ${gzip} bytes minified + gzip, over ${BUDGET}`);
      assert.ok(gzip > 1000, `${gzip} bytes: not the whole widget`);
    }
  });

  it('the standalone file defines <feedback-thumbs> and window.FeedbackLoop, and needs nothing else', () => {
    const defined = [];
    class HTMLElement {}
    const sandbox = {
      HTMLElement,
      TextEncoder,
      customElements: { get: () => undefined, define: (n, c) => defined.push([n, c]) },
    };
    sandbox.window = sandbox;
    vm.runInNewContext(fs.readFileSync(path.join(dist, 'feedback-thumbs.js'), 'utf8'), sandbox);
    assert.deepEqual(
      defined.map(([n]) => n),
      ['feedback-thumbs']
    );
    assert.equal(defined[0][1], sandbox.FeedbackLoop.FeedbackThumbs);
    assert.equal(typeof sandbox.FeedbackLoop.Client, 'function');
    assert.equal(typeof sandbox.FeedbackLoop.FeedbackError, 'function');
  });

  it('the demo embeds this build (npm run build:demo copies it)', () => {
    const embedded = path.join(repo, 'pkg', 'demo', 'chat', 'feedback-thumbs.js');
    assert.ok(
      fs.readFileSync(embedded).equals(fs.readFileSync(path.join(dist, 'feedback-thumbs.js'))),
      `${embedded} differs from dist/feedback-thumbs.js: run npm --prefix sdk/js run build:demo and commit it`
    );
  });

  it('has no runtime dependencies', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(dist, '..', 'package.json'), 'utf8'));
    assert.deepEqual(Object.keys(pkg.dependencies ?? {}), []);
    assert.deepEqual(Object.keys(pkg.peerDependencies ?? {}), []);
  });
});
