// @feedbackloop/client in Node: batching, retries and what feedbackd's refusals look like to the caller. The
// stand-in below answers as feedbackd's API does (docs/widget.md) and refuses any request that is not shaped like one;
// the last tests run against the real feedbackd binary.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, FeedbackError, parseRetryAfter, ulid } from '../dist/client.js';
import { buildFeedbackd, startFeedbackd } from './harness.mjs';

const TOKEN = 'unit-test-token';
const KIND_OF = { '/v1/feedback': 'feedback', '/v1/interactions': 'interaction' };

/**
 * A feedbackd stand-in: each request gets the next of answers (a function of the request, or 202 when none is left).
 * Requests that feedbackd's API would not take from this client are recorded in problems and answered 400.
 */
async function standIn(answers = []) {
  const requests = [];
  const problems = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const kind = KIND_OF[req.url];
      let body;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const events = Array.isArray(body) ? body : [body];
      const wrong = [
        req.method !== 'POST' && `method ${req.method}`,
        !kind && `path ${req.url}`,
        req.headers['content-type'] !== 'application/json' && `content-type ${req.headers['content-type']}`,
        req.headers.authorization !== `Bearer ${TOKEN}` && `authorization ${req.headers.authorization}`,
        body === undefined && 'body is not JSON',
        Array.isArray(body) && (body.length < 2 || body.length > 1000) && `array of ${body.length} events`,
        events.some((e) => !e || e.kind !== kind || e.schema !== 'feedback/v1') &&
          'an event of the wrong kind or schema',
      ].filter(Boolean);
      if (wrong.length) {
        problems.push(wrong.join(', '));
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: wrong.join(', ') }));
        return;
      }
      requests.push({ path: req.url, body, text });
      const answer = answers.shift();
      if (answer) {
        answer(req, res, events);
        return;
      }
      const ids = events.map((e) => e.feedback_id ?? e.correlation_id);
      res
        .writeHead(202, { 'content-type': 'application/json' })
        .end(JSON.stringify({ accepted: ids.length, ids }) + '\n');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    problems,
    close: () => new Promise((r) => server.close(r)),
  };
}

const status =
  (code, body, headers = {}) =>
  (req, res) =>
    res.writeHead(code, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

function fb(i) {
  return {
    correlation_id: `cid-${i}`,
    model: { id: 'support-bot', version: '2026-11-18.3' },
    sentiment: i % 2 ? 'negative' : 'positive',
  };
}

describe('@feedbackloop/client', () => {
  let srv;
  after(() => srv?.close());

  it('sends one event as an object with the fields the client owns filled in', async () => {
    srv = await standIn();
    const c = new Client({ endpoint: srv.url + '/', token: TOKEN });
    const [a, b] = await Promise.all([
      c.feedback({ ...fb(1), reason: 'hallucination', tags: ['hallucination'], source: 'modal' }),
      c.interaction({ correlation_id: 'cid-1', model: fb(1).model, context: { input: 'When?', output: 'Soon.' } }),
    ]);
    assert.deepEqual(srv.problems, []);
    assert.equal(srv.requests.length, 2);
    const f = srv.requests.find((r) => r.path === '/v1/feedback').body;
    const { feedback_id, timestamp, ...rest } = f;
    assert.match(feedback_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.ok(!isNaN(Date.parse(timestamp)) && timestamp.endsWith('Z'), timestamp);
    assert.deepEqual(rest, {
      schema: 'feedback/v1',
      kind: 'feedback',
      correlation_id: 'cid-1',
      model: { id: 'support-bot', version: '2026-11-18.3' },
      sentiment: 'negative',
      reason: 'hallucination',
      tags: ['hallucination'],
      source: 'modal',
    });
    assert.deepEqual(a, { id: feedback_id });
    assert.deepEqual(b, { id: 'cid-1' });
    const i = srv.requests.find((r) => r.path === '/v1/interactions').body;
    assert.deepEqual(Object.keys(i).sort(), ['context', 'correlation_id', 'kind', 'model', 'schema', 'timestamp']);
    await srv.close();
  });

  it('batches up to batchSize events per request and sends the rest on flush()', async () => {
    srv = await standIn();
    const c = new Client({ endpoint: srv.url, token: TOKEN, flushInterval: 3_600_000 });
    const all = Array.from({ length: 250 }, (_, i) => c.feedback(fb(i)));
    // The two full batches go at once; the last 50 wait for the (hour-long) interval or a flush.
    const ids = await Promise.all(all.slice(0, 200));
    assert.deepEqual(
      srv.requests.map((r) => r.body.length),
      [100, 100]
    );
    await c.flush();
    assert.deepEqual(
      srv.requests.map((r) => r.body.length),
      [100, 100, 50]
    );
    const sent = srv.requests.flatMap((r) => r.body);
    assert.deepEqual(
      sent.map((e) => e.correlation_id),
      Array.from({ length: 250 }, (_, i) => `cid-${i}`)
    );
    assert.deepEqual(
      ids.map((x) => x.id),
      sent.slice(0, 200).map((e) => e.feedback_id)
    );
    assert.equal(new Set(sent.map((e) => e.feedback_id)).size, 250);
    assert.deepEqual(srv.problems, []);
    await srv.close();
  });

  it('sends a partial batch when the flush interval ends', async () => {
    srv = await standIn();
    const c = new Client({ endpoint: srv.url, token: TOKEN, flushInterval: 20 });
    await Promise.all([c.feedback(fb(1)), c.feedback(fb(2)), c.feedback(fb(3))]);
    assert.deepEqual(
      srv.requests.map((r) => r.body.length),
      [3]
    );
    await srv.close();
  });

  it('retries 503 and 429 after Retry-After, with the same bytes (same feedback_id: stored once)', async () => {
    srv = await standIn([
      status(503, { error: 'shutting down; retry later' }, { 'retry-after': '1' }),
      status(429, { error: 'spool is full: the sinks are behind; retry later' }, { 'retry-after': '0' }),
    ]);
    const retries = [];
    const c = new Client({ endpoint: srv.url, token: TOKEN, onRetry: (r) => retries.push(r) });
    const got = await c.feedback(fb(1));
    assert.deepEqual(retries, [
      { attempt: 1, delay: 1000, status: 503, path: '/v1/feedback', events: 1 },
      { attempt: 2, delay: 0, status: 429, path: '/v1/feedback', events: 1 },
    ]);
    assert.equal(srv.requests.length, 3);
    assert.equal(new Set(srv.requests.map((r) => r.text)).size, 1, 'every try sends the same event');
    assert.equal(got.id, srv.requests[0].body.feedback_id);
    await srv.close();
  });

  it('retries network errors with jittered exponential backoff', async () => {
    srv = await standIn([(req, res) => res.socket.destroy(), (req, res) => res.socket.destroy()]);
    const retries = [];
    const c = new Client({ endpoint: srv.url, token: TOKEN, baseDelay: 40, onRetry: (r) => retries.push(r) });
    await c.feedback(fb(1));
    assert.deepEqual(
      retries.map((r) => [r.attempt, r.status]),
      [
        [1, 0],
        [2, 0],
      ]
    );
    assert.ok(retries[0].delay >= 20 && retries[0].delay <= 40, `first backoff ${retries[0].delay} in [20, 40]`);
    assert.ok(retries[1].delay >= 40 && retries[1].delay <= 80, `second backoff ${retries[1].delay} in [40, 80]`);
    assert.equal(srv.requests.length, 3);
    await srv.close();
  });

  it('gives up after its retries with the last answer', async () => {
    const busy = status(503, { error: 'spool not writable' }, { 'retry-after': '0' });
    srv = await standIn([busy, busy, busy]);
    const c = new Client({ endpoint: srv.url, token: TOKEN, retries: 2 });
    await assert.rejects(c.feedback(fb(1)), (err) => {
      assert.ok(err instanceof FeedbackError);
      assert.equal(err.status, 503);
      assert.equal(err.retriable, true);
      assert.equal(err.message, 'feedbackd refused POST /v1/feedback (HTTP 503): spool not writable');
      return true;
    });
    assert.equal(srv.requests.length, 3);
    await srv.close();
  });

  it("surfaces a 400 with feedbackd's field details to every caller of the batch, without retrying", async () => {
    const details = [
      {
        index: 1,
        field: 'tags[0]',
        message: 'must be a taxonomy tag or a custom tag matching ^[a-z][a-z0-9_]{0,39}$, got "Bad Tag"',
      },
    ];
    srv = await standIn([status(400, { error: 'invalid request: event 1: tags[0]: ' + details[0].message, details })]);
    const c = new Client({ endpoint: srv.url, token: TOKEN, flushInterval: 3_600_000 });
    const a = c.feedback(fb(0));
    const b = c.feedback({ ...fb(1), tags: ['Bad Tag'] });
    void c.flush();
    for (const p of [a, b]) {
      await assert.rejects(p, (err) => {
        assert.equal(err.status, 400);
        assert.equal(err.retriable, false);
        assert.deepEqual(err.details, details);
        assert.equal(
          err.message,
          'feedbackd refused POST /v1/feedback (HTTP 400): invalid request: event 1: tags[0]: ' + details[0].message
        );
        return true;
      });
    }
    assert.equal(srv.requests.length, 1);
    await srv.close();
  });

  for (const [code, error] of [
    [401, 'missing or invalid bearer token'],
    [403, 'browser tokens may only write feedback (POST /v1/feedback)'],
  ]) {
    it(`surfaces a ${code} and does not retry it`, async () => {
      srv = await standIn([status(code, { error })]);
      const retries = [];
      const c = new Client({ endpoint: srv.url, token: TOKEN, onRetry: (r) => retries.push(r) });
      await assert.rejects(c.interaction({ correlation_id: 'c', model: fb(0).model }), {
        name: 'FeedbackError',
        status: code,
        retriable: false,
        message: `feedbackd refused POST /v1/interactions (HTTP ${code}): ${error}`,
      });
      assert.deepEqual(retries, []);
      assert.equal(srv.requests.length, 1);
      await srv.close();
    });
  }

  it('refuses an event without its required fields before sending it, naming them', async () => {
    srv = await standIn();
    const c = new Client({ endpoint: srv.url, token: TOKEN });
    await assert.rejects(c.feedback({ correlation_id: 'c', model: { id: 'm' } }), {
      message: 'model.version, sentiment are required',
      details: [
        { index: 0, field: 'model.version', message: 'required' },
        { index: 0, field: 'sentiment', message: 'required' },
      ],
    });
    await assert.rejects(c.feedback({ ...fb(1), comment: 'é'.repeat(2049) }), {
      details: [{ index: 0, field: 'comment', message: 'at most 4096 bytes' }],
    });
    await c.flush();
    assert.equal(srv.requests.length, 0);
    await srv.close();
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(parseRetryAfter('7'), 7000);
    assert.equal(parseRetryAfter(null), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
    const d = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString());
    assert.ok(d > 58_000 && d <= 60_000, String(d));
    assert.equal(parseRetryAfter(new Date(0).toUTCString()), 0);
  });

  it('makes ULIDs that sort by time', () => {
    const a = ulid(1_700_000_000_000);
    const b = ulid(1_700_000_000_001);
    assert.match(a, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(a.slice(0, 10), '01HF7YAT00'); // 1700000000000 in Crockford base32, by hand
    assert.ok(a < b);
  });
});

describe('@feedbackloop/client against the real feedbackd', { timeout: 120_000 }, () => {
  let tmp;
  let d;
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'feedbackloop-sdk-client-'));
    d = await startFeedbackd(buildFeedbackd(tmp), [
      '--tokens',
      'server-token',
      '--browser-tokens',
      'browser-token',
      '--cors-origins',
      'https://app.example.com',
    ]);
  });
  after(async () => {
    await d?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('is accepted, and a batch of mixed validity gets the field details', async () => {
    const c = new Client({ endpoint: d.base, token: 'server-token', flushInterval: 3_600_000 });
    const ok = c.feedback(fb(0));
    void c.flush();
    assert.match((await ok).id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    const a = c.feedback(fb(1));
    const b = c.feedback({ ...fb(2), tags: ['Bad Tag'] });
    void c.flush();
    const [ra, rb] = await Promise.allSettled([a, b]);
    for (const r of [ra, rb]) {
      assert.equal(r.status, 'rejected');
      assert.equal(r.reason.status, 400);
      assert.deepEqual(r.reason.details, [
        {
          index: 1,
          field: 'tags[0]',
          message: 'must be a taxonomy tag or a custom tag matching ^[a-z][a-z0-9_]{0,39}$, got "Bad Tag"',
        },
      ]);
    }
  });

  it('a wrong token is a 401 and a browser token outside a browser a 403, neither retried', async () => {
    const retries = [];
    const wrong = new Client({ endpoint: d.base, token: 'nope', onRetry: (r) => retries.push(r) });
    await assert.rejects(wrong.feedback(fb(0)), {
      status: 401,
      message: 'feedbackd refused POST /v1/feedback (HTTP 401): missing or invalid bearer token',
    });
    const browser = new Client({ endpoint: d.base, token: 'browser-token', onRetry: (r) => retries.push(r) });
    await assert.rejects(browser.feedback(fb(0)), {
      status: 403,
      message:
        'feedbackd refused POST /v1/feedback (HTTP 403): browser tokens are accepted only from an allowed origin (cors-origins)',
    });
    assert.deepEqual(retries, []);
  });
});
