// What the browser tests and the screenshot command share: the real feedbackd binary built from this checkout and
// run on loopback, a recording Loki stand-in as its sink, a server for the test page, and Debian's chromium.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import snappy from 'snappyjs';

export const sdk = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const repo = path.resolve(sdk, '..', '..');
export const dist = path.join(sdk, 'dist');

/** Loki's push request (pkg/push/push.proto of grafana/loki), the fields feedbackd's lokipush sink writes. */
const PUSH_PROTO = `
syntax = "proto3";
package logproto;
message PushRequest { repeated StreamAdapter streams = 1; }
message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
message LabelPairAdapter { string name = 1; string value = 2; }
message EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
`;
const PushRequest = protobuf.parse(PUSH_PROTO).root.lookupType('logproto.PushRequest');

function listen(server) {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`))
  );
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A Loki that takes what Loki's push API takes from feedbackd (snappy block-encoded protobuf on POST
 * /loki/api/v1/push, GET /ready) and records every entry; anything else is answered 404 or 400 and recorded as a
 * problem, which the tests check is empty.
 */
export async function startLoki() {
  const entries = [];
  const problems = [];
  const server = http.createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.method === 'GET' && req.url === '/ready') {
      res.writeHead(200).end('ready');
      return;
    }
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push') {
      problems.push(`unexpected ${req.method} ${req.url}`);
      res.writeHead(404).end('not a Loki endpoint');
      return;
    }
    if (req.headers['content-type'] !== 'application/x-protobuf' || req.headers['content-encoding']) {
      problems.push(
        `push with content-type ${req.headers['content-type']}, content-encoding ${req.headers['content-encoding']}`
      );
      res.writeHead(400).end('want application/x-protobuf, snappy block encoded, no content-encoding');
      return;
    }
    let push;
    try {
      push = PushRequest.decode(snappy.uncompress(body));
    } catch (err) {
      problems.push(`undecodable push: ${err.message}`);
      res.writeHead(400).end(String(err.message));
      return;
    }
    for (const st of push.streams) {
      for (const e of st.entries) {
        entries.push({ labels: st.labels, line: e.line, event: JSON.parse(e.line) });
      }
    }
    res.writeHead(204).end();
  });
  const url = await listen(server);
  return { url, entries, problems, close: () => new Promise((r) => server.close(r)) };
}

/**
 * A slow network in front of target: CORS preflights are answered only after delay ms, so a page can be closed
 * while its request is still on the way. A request whose client went away before it was forwarded is dropped, as
 * it would be on a real network, and listed in dropped.
 */
export async function startSlowProxy(target, delay) {
  const stats = { dropped: [], forwarded: [] };
  const server = http.createServer(async (req, res) => {
    let gone = false;
    res.on('close', () => (gone ||= !res.writableFinished));
    const body = await readBody(req);
    if (req.method === 'OPTIONS') {
      await new Promise((r) => setTimeout(r, delay));
    }
    if (gone) {
      stats.dropped.push(req.method);
      return;
    }
    const headers = {};
    for (const h of [
      'origin',
      'authorization',
      'content-type',
      'access-control-request-method',
      'access-control-request-headers',
    ]) {
      if (req.headers[h]) {
        headers[h] = req.headers[h];
      }
    }
    const up = await fetch(target + req.url, {
      method: req.method,
      headers,
      body: req.method === 'POST' ? body : undefined,
    });
    stats.forwarded.push(`${req.method} ${up.status}`);
    const out = {};
    up.headers.forEach((v, k) => (out[k] = v));
    res.writeHead(up.status, out).end(Buffer.from(await up.arrayBuffer()));
  });
  const url = await listen(server);
  return { url, stats, close: () => new Promise((r) => server.close(r)) };
}

/** Builds pkg/cmd/feedbackd into dir (Go's build cache makes a rebuild cheap). */
export function buildFeedbackd(dir) {
  const bin = path.join(dir, 'feedbackd');
  const r = spawnSync('go', ['build', '-o', bin, './pkg/cmd/feedbackd'], { cwd: repo, encoding: 'utf8' });
  assert.equal(r.status, 0, `go build feedbackd failed:\n${r.stdout}\n${r.stderr}`);
  return bin;
}

export async function freePort() {
  const s = http.createServer();
  const url = await listen(s);
  await new Promise((r) => s.close(r));
  return new URL(url).port;
}

/** Runs feedbackd on a free loopback port with a fresh spool and returns once /healthz answers. */
export async function startFeedbackd(bin, args) {
  const port = await freePort();
  const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'feedbackloop-sdk-spool-'));
  const log = [];
  const proc = spawn(bin, ['--listen', `127.0.0.1:${port}`, '--log-level', 'warn', '--spool-dir', spool, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', (d) => log.push(String(d)));
  proc.stderr.on('data', (d) => log.push(String(d)));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + '/healthz')).ok) {
        break;
      }
    } catch {
      // not up yet
    }
    assert.ok(i < 300 && proc.exitCode === null, `feedbackd did not come up:\n${log.join('')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    base,
    log,
    /** Sum of the metric's samples whose labels include all of want. */
    async metric(name, want = {}) {
      const text = await (await fetch(base + '/metrics')).text();
      let sum = 0;
      for (const line of text.split('\n')) {
        const m = line.match(/^([a-z_]+)(?:\{([^}]*)\})? (\S+)/);
        if (!m || m[1] !== name) {
          continue;
        }
        const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
        if (Object.entries(want).every(([k, v]) => labels[k] === v)) {
          sum += Number(m[3]);
        }
      }
      return sum;
    },
    /** Waits until every event feedbackd accepted so far has been acknowledged by Loki. */
    async drained() {
      for (let i = 0; ; i++) {
        const accepted = await this.metric('feedback_events_total');
        const delivered = await this.metric('feedbackd_delivery_total', { sink: 'loki', outcome: 'delivered' });
        if (delivered >= accepted) {
          return accepted;
        }
        assert.ok(
          i < 400,
          `feedbackd delivered ${delivered} of ${accepted} events to Loki within 20 s:\n${log.join('')}`
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      proc.kill('SIGTERM');
      if (proc.exitCode === null) {
        await new Promise((r) => proc.once('exit', r));
      }
      fs.rmSync(spool, { recursive: true, force: true });
    },
  };
}

export const TOKEN = 'widget-test-browser-token';

/** The test page: one answer with a <feedback-thumbs>, its attributes taken from the query string. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Support chat</title><link rel="icon" href="data:,">
<style>body{font:15px system-ui,sans-serif;margin:2rem;color:#111827}.answer{max-width:34rem;padding:12px 16px;border:1px solid #e5e7eb;border-radius:12px;background:#f9fafb}</style>
</head><body><main><h1>Support chat</h1>
<div class="answer"><p>Your refund is sent to the original payment method within 5 business days of the parcel reaching our warehouse.</p>
<feedback-thumbs id="w"></feedback-thumbs></div></main>
<script src="/feedback-thumbs.js"></script>
<script>
const w = document.getElementById('w');
for (const [k, v] of new URLSearchParams(location.search)) w.setAttribute(k, v);
window.sent = []; window.failed = [];
w.addEventListener('feedback-sent', (e) => window.sent.push(e.detail));
w.addEventListener('feedback-error', (e) => window.failed.push({ message: e.detail.error.message, status: e.detail.error.status }));
</script></body></html>`;

/** Serves the test page at / and dist/feedback-thumbs.js; anything else is a 404. */
export async function startPages() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE);
    } else if (url.pathname === '/feedback-thumbs.js') {
      res
        .writeHead(200, { 'content-type': 'text/javascript' })
        .end(fs.readFileSync(path.join(dist, 'feedback-thumbs.js')));
    } else {
      res.writeHead(404).end();
    }
  });
  const url = await listen(server);
  return { url, close: () => new Promise((r) => server.close(r)) };
}

/** Debian's chromium as the repository's browser tests launch it. */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  assert.ok(fs.existsSync(executablePath), `no chromium at ${executablePath}: apt-get install -y chromium`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'feedbackloop-sdk-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
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
    viewport: { width: 900, height: 640 },
    reducedMotion: 'reduce',
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

export const SERVER_TOKEN = 'widget-test-server-token';

/**
 * The one stack the tests run: Loki stand-in, feedbackd with a browser token for allowed's origin (and
 * extraOrigins), pages.
 */
export async function startStack(tmp, extraOrigins = []) {
  const loki = await startLoki();
  const allowed = await startPages();
  const other = await startPages();
  const bin = buildFeedbackd(tmp);
  const feedbackd = await startFeedbackd(bin, [
    '--loki-url',
    loki.url,
    '--tokens',
    SERVER_TOKEN,
    '--browser-tokens',
    TOKEN,
    '--cors-origins',
    [allowed.url, ...extraOrigins].join(','),
  ]);
  return {
    loki,
    allowed,
    other,
    feedbackd,
    bin,
    async close() {
      await feedbackd.stop();
      await Promise.all([loki.close(), allowed.close(), other.close()]);
    },
  };
}
