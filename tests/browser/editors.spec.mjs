/*
 * The plugin's QueryEditor and ConfigEditor in a real browser (Debian's chromium driven by playwright-core), beside
 * the Jest tests of the same components. Builds the harness (harness.tsx, webpack.config.ts) into a temp dir,
 * serves it on 127.0.0.1, drives the editors and checks the query / options JSON they produce. Screenshots of both
 * editors go to tests/browser/screenshots/. Run: npm run test:browser (CHROMIUM=/path/to/chromium to override).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const screenshots = path.join(here, 'screenshots');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
/** Grafana's icons (the harness's requests for /public/build/img/icons/… are answered from here). */
const icons = path.join(root, 'node_modules', '@grafana', 'ui', 'dist', 'public', 'img', 'icons');

const FROM = Date.UTC(2026, 10, 1, 0, 0);
const TO = FROM + 6 * 3_600_000;

const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.svg': 'image/svg+xml' };

/** Serves the bundle in `dir` and the icons; anything else is a 404 (checked by the test). */
function serve(dir) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let file;
    if (url.pathname.startsWith('/public/build/img/icons/')) {
      file = path.join(icons, url.pathname.slice('/public/build/img/icons/'.length));
    } else {
      file = path.join(dir, url.pathname === '/' ? 'index.html' : url.pathname);
    }
    if (!file.startsWith(dir + path.sep) && !file.startsWith(icons + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    fs.readFile(file, (err, body) => {
      if (err) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Sorts object keys, so that JSON can be compared as text. */
function canonical(value) {
  if (Array.isArray(value)) {
    return value.map(canonical);
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical(value[k])])
    );
  }
  return value;
}

describe('editors in a real browser', { timeout: 90_000 }, () => {
  let bundleDir;
  let userDataDir;
  let server;
  let context;
  let page;
  let baseUrl;
  /** Problems seen by the page: uncaught errors, console errors, failed requests. */
  let problems = [];

  before(async () => {
    assert.ok(fs.existsSync(executablePath), `no chromium at ${executablePath}: apt-get install -y chromium`);
    bundleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfeedback-harness-'));
    const build = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules', 'webpack-cli', 'bin', 'cli.js'), '-c', 'tests/browser/webpack.config.ts'],
      { cwd: root, env: { ...process.env, BROWSER_HARNESS_DIR: bundleDir }, encoding: 'utf8' }
    );
    assert.equal(build.status, 0, `harness build failed:\n${build.stdout}\n${build.stderr}`);

    server = await serve(bundleDir);
    baseUrl = `http://127.0.0.1:${server.address().port}/`;
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelfeedback-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
      reducedMotion: 'reduce',
    });
    context.setDefaultTimeout(10_000);
    // Nothing leaves the machine: the harness has no reason to ask anything but its own server.
    await context.route(
      (url) => !url.href.startsWith(baseUrl),
      (route) => {
        problems.push(`external request: ${route.request().url()}`);
        return route.abort();
      }
    );
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // 404s are reported by the response listener, with their URL
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
        problems.push(`console error: ${msg.text()}`);
      }
    });
    page.on('response', (res) => {
      // Grafana's fonts are not in the npm packages: the browser falls back to its own.
      if (res.status() >= 400 && !new URL(res.url()).pathname.startsWith('/public/fonts/')) {
        problems.push(`HTTP ${res.status()} ${res.url()}`);
      }
    });
    fs.mkdirSync(screenshots, { recursive: true });
  });

  after(async () => {
    await context?.close();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
    for (const dir of [userDataDir, bundleDir]) {
      if (dir) {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  beforeEach(async () => {
    problems = [];
    await page.goto(baseUrl);
    await page.getByTestId('query-json').waitFor();
    // the editor has asked for the tags and fields of the default source and the (minute-rounded) range
    await waitForResourceCalls([`fields?source=loki&from=${FROM}&to=${TO}`, `tags?source=loki&from=${FROM}&to=${TO}`]);
  });

  /** Waits until the JSON shown in `testId` equals `expected` (key order aside); on timeout, fails with a diff. */
  async function expectJson(testId, expected) {
    const want = JSON.stringify(canonical(expected));
    try {
      await page.waitForFunction(
        ([id, text]) => {
          const sort = (v) =>
            Array.isArray(v)
              ? v.map(sort)
              : v && typeof v === 'object'
                ? Object.fromEntries(
                    Object.keys(v)
                      .sort()
                      .map((k) => [k, sort(v[k])])
                  )
                : v;
          const el = document.querySelector(`[data-testid="${id}"]`);
          return !!el && JSON.stringify(sort(JSON.parse(el.textContent ?? 'null'))) === text;
        },
        [testId, want],
        { timeout: 5_000 }
      );
    } catch (err) {
      const shown = JSON.parse((await page.getByTestId(testId).textContent()) ?? 'null');
      assert.deepEqual(canonical(shown), canonical(expected), `${testId} never became the expected JSON`);
      throw err;
    }
  }

  const queryJson = (expected) => expectJson('query-json', { refId: 'A', ...expected });

  /**
   * Waits until onRunQuery has been called with the query `expected` (the harness records the query at each call),
   * and checks it ran once: a Combobox pick re-invokes onChange while downshift's state settles, and the editor
   * must not run the same query again for it.
   */
  async function expectRunWith(expected) {
    const want = JSON.stringify(canonical({ refId: 'A', ...expected }));
    try {
      await page.waitForFunction((text) => window.harness.runs.includes(text), want, { timeout: 5_000 });
    } catch (err) {
      const runs = await page.evaluate(() => window.harness.runs);
      assert.fail(`onRunQuery was never called with ${want}; calls: ${JSON.stringify(runs, null, 1)}\n${err}`);
    }
    const runs = await page.evaluate(() => window.harness.runs);
    assert.equal(runs.filter((r) => r === want).length, 1, `ran ${want} more than once: ${JSON.stringify(runs, null, 1)}`);
  }

  /** onRunQuery has not (yet) been called with the query `expected`. */
  async function assertNoRunWith(expected) {
    const want = JSON.stringify(canonical({ refId: 'A', ...expected }));
    assert.ok(!(await page.evaluate((text) => window.harness.runs.includes(text), want)), `ran ${want}`);
  }

  /** Waits until each of `calls` is among the resource requests made so far. */
  async function waitForResourceCalls(calls) {
    await page.waitForFunction((want) => want.every((c) => window.harness.resourceCalls.includes(c)), calls, {
      timeout: 5_000,
    });
  }

  /** Waits until the controls with these ids are shown and those are gone. */
  async function expectControls(shown, absent) {
    for (const id of shown) {
      await page.locator(`#${id}`).waitFor({ state: 'visible' });
    }
    for (const id of absent) {
      await page.locator(`#${id}`).waitFor({ state: 'detached' });
    }
  }

  /** Opens a combobox and clicks the option whose text starts with `label` (options also show a description). */
  async function choose(id, label) {
    await page.locator(`#${id}`).click();
    const escaped = label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await page
      .getByRole('option', { name: new RegExp(`^${escaped}(\\s|$)`) })
      .first()
      .click();
  }

  /** The suggestions in a SuggestInput's datalist, once they include `expected`. */
  async function expectSuggestions(id, expected) {
    const list = page.getByTestId(`${id}-suggestions`);
    await page.waitForFunction(
      ([testId, want]) => {
        const values = [...document.querySelectorAll(`[data-testid="${testId}"] option`)].map((o) => o.value);
        return want.every((v) => values.includes(v));
      },
      [`${id}-suggestions`, expected],
      { timeout: 5_000 }
    );
    return list.locator('option').evaluateAll((options) => options.map((o) => o.value));
  }

  function assertNoProblems() {
    assert.deepEqual(problems, [], 'the page reported problems');
  }

  it('switching the query type shows the controls of each type and keeps only its settings', async () => {
    await expectControls(
      [
        'feedback-kind',
        'feedback-sentiment',
        'feedback-tags',
        'feedback-search',
        'feedback-group-by',
        'feedback-metric',
      ],
      ['feedback-limit', 'feedback-baseline', 'feedback-correlation-id']
    );
    await queryJson({});
    await page.getByRole('button', { name: 'Add filter' }).waitFor();

    await choose('feedback-query-type', 'Feedback');
    await queryJson({ queryType: 'feedback' });
    await expectRunWith({ queryType: 'feedback' });
    await expectControls(
      ['feedback-kind', 'feedback-sentiment', 'feedback-tags', 'feedback-search', 'feedback-limit'],
      ['feedback-group-by', 'feedback-metric', 'feedback-baseline', 'feedback-correlation-id']
    );
    await page.locator('#feedback-limit').fill('250');
    await queryJson({ queryType: 'feedback', limit: 250 });

    // versions drops the limit; its baseline suggests the versions in the range and the variables
    await choose('feedback-query-type', 'Versions');
    await queryJson({ queryType: 'versions' });
    await expectRunWith({ queryType: 'versions' });
    await expectControls(
      ['feedback-tags', 'feedback-baseline'],
      ['feedback-kind', 'feedback-sentiment', 'feedback-search', 'feedback-limit', 'feedback-group-by']
    );
    await page.getByRole('button', { name: 'Add filter' }).waitFor();
    const baseline = page.locator('#feedback-baseline');
    await baseline.focus();
    const versions = await expectSuggestions('feedback-baseline', ['2026-11-01.1', '2026-11-01.2']);
    assert.deepEqual(versions, ['2026-11-01.1', '2026-11-01.2', '$model_id', '$tag']);
    await waitForResourceCalls([`model-versions?source=loki&from=${FROM}&to=${TO}`]);
    await baseline.pressSequentially('2026-11-01.1');
    await queryJson({ queryType: 'versions', baseline: '2026-11-01.1' });
    await assertNoRunWith({ queryType: 'versions', baseline: '2026-11-01.1' });
    await baseline.blur();
    await expectRunWith({ queryType: 'versions', baseline: '2026-11-01.1' });

    await choose('feedback-query-type', 'Trace');
    await queryJson({ queryType: 'trace' });
    await expectRunWith({ queryType: 'trace' });
    await expectControls(
      ['feedback-correlation-id'],
      ['feedback-tags', 'feedback-baseline', 'feedback-kind', 'feedback-search', 'feedback-limit']
    );
    await page.getByRole('button', { name: 'Add filter' }).waitFor({ state: 'detached' });
    const correlationId = page.locator('#feedback-correlation-id');
    await correlationId.pressSequentially('5f0c2a');
    await queryJson({ queryType: 'trace', correlationId: '5f0c2a' });
    await assertNoRunWith({ queryType: 'trace', correlationId: '5f0c2a' });
    await correlationId.blur();
    await expectRunWith({ queryType: 'trace', correlationId: '5f0c2a' });
    await page.getByTestId('query-editor').screenshot({ path: path.join(screenshots, 'query-editor-trace.png') });
    assertNoProblems();
  });

  it('a breakdown query: tag, search, filter row and metric', async () => {
    // a tag the backend returned (not in the taxonomy)
    await choose('feedback-tags', 'needs_citation');
    await queryJson({ tags: ['needs_citation'] });
    await expectRunWith({ tags: ['needs_citation'] });
    await page.keyboard.press('Escape');

    // search changes the query per keystroke and runs it on blur
    const search = page.locator('#feedback-search');
    await search.pressSequentially('refund');
    await queryJson({ tags: ['needs_citation'], search: 'refund' });
    await assertNoRunWith({ tags: ['needs_citation'], search: 'refund' });
    await search.blur();
    await expectRunWith({ tags: ['needs_citation'], search: 'refund' });

    // a filter row: adding it does not run the query; key and operator do, the value does on blur
    const base = { tags: ['needs_citation'], search: 'refund' };
    await page.getByRole('button', { name: 'Add filter' }).click();
    await queryJson({ ...base, filters: [{ key: '', operator: '=', value: '' }] });
    await assertNoRunWith({ ...base, filters: [{ key: '', operator: '=', value: '' }] });
    await choose('feedback-filter-key-0', 'model_id');
    await expectRunWith({ ...base, filters: [{ key: 'model_id', operator: '=', value: '' }] });
    await choose('feedback-filter-operator-0', '!=');
    await expectRunWith({ ...base, filters: [{ key: 'model_id', operator: '!=', value: '' }] });
    await queryJson({ ...base, filters: [{ key: 'model_id', operator: '!=', value: '' }] });
    const value = page.locator('#feedback-filter-value-0');
    await value.focus();
    const suggestions = await expectSuggestions('feedback-filter-value-0', ['v1.0', 'v2.0']);
    assert.deepEqual(suggestions, ['v1.0', 'v2.0', '$model_id', '$tag']);
    await waitForResourceCalls([`field-values?field=model_id&source=loki&from=${FROM}&to=${TO}`]);
    await value.pressSequentially('summarizer');
    const filtered = { ...base, filters: [{ key: 'model_id', operator: '!=', value: 'summarizer' }] };
    await queryJson(filtered);
    await assertNoRunWith(filtered);
    await value.blur();
    await expectRunWith(filtered);

    await choose('feedback-metric', 'Negative rate');
    await queryJson({ ...filtered, metric: 'negative_rate' });
    await expectRunWith({ ...filtered, metric: 'negative_rate' });
    await page
      .getByTestId('feedback-query-summary')
      .filter({ hasText: /negative rate/i })
      .waitFor();
    await page.getByTestId('query-editor').screenshot({ path: path.join(screenshots, 'query-editor.png') });
    assertNoProblems();
  });

  it('the config editor: Loki URL, a secret and the Tempo data source', async () => {
    const editor = page.getByTestId('config-editor');
    await expectJson('options-json', { jsonData: {}, secureJsonData: {} });

    await page.locator('#config-loki-url').pressSequentially('http://loki:3100');
    await expectJson('options-json', { jsonData: { loki: { url: 'http://loki:3100' } }, secureJsonData: {} });

    await page.locator('#config-loki-password').fill('s3cret');
    await expectJson('options-json', {
      jsonData: { loki: { url: 'http://loki:3100' } },
      secureJsonData: { lokiPassword: 's3cret' },
    });
    // a secret is typed into a password field
    assert.equal(await page.locator('#config-loki-password').getAttribute('type'), 'password');

    await editor.getByRole('radio', { name: 'Elasticsearch' }).check();
    await expectJson('options-json', {
      jsonData: { defaultSource: 'elasticsearch', loki: { url: 'http://loki:3100' } },
      secureJsonData: { lokiPassword: 's3cret' },
    });

    // the Tempo picker (the real DataSourcePicker, listing the stub DataSourceSrv's data sources)
    await editor.getByText('Trace drill-down').click();
    await page.locator('#config-trace-tempo').click();
    await page.getByText('Tempo prod', { exact: true }).click();
    await expectJson('options-json', {
      jsonData: {
        defaultSource: 'elasticsearch',
        loki: { url: 'http://loki:3100' },
        trace: { tempoDatasourceUid: 'tempo-uid' },
      },
      secureJsonData: { lokiPassword: 's3cret' },
    });
    await editor.screenshot({ path: path.join(screenshots, 'config-editor.png') });
    assertNoProblems();
  });
});
