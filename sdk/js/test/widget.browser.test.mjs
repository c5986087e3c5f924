// <feedback-thumbs> in Debian's chromium (playwright-core) against the real feedbackd, built from this checkout and
// started on loopback with a browser token and a CORS allow-list, delivering to a recording Loki stand-in. Each flow
// ends with what Loki received: exactly one event, field by field. Run: npm run test:browser (after npm run build).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRequire } from 'node:module';
import { spawn, spawnSync } from 'node:child_process';
import { SERVER_TOKEN, TOKEN, freePort, launchChromium, repo, startSlowProxy, startStack } from './harness.mjs';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const MODEL = { id: 'support-bot', version: '2026-11-18.3' };

describe('<feedback-thumbs> against feedbackd', { timeout: 180_000 }, () => {
  let tmp;
  let stack;
  let browser;
  let n = 0;
  let demoPort;
  const outside = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'feedbackloop-sdk-'));
    demoPort = await freePort();
    stack = await startStack(tmp, [`http://127.0.0.1:${demoPort}`]);
    browser = await launchChromium();
    // Nothing leaves the machine. Watched, not routed: with request interception on, playwright answers CORS
    // preflights itself, and feedbackd's own answers to them are part of what is tested here.
    browser.context.on('request', (r) => new URL(r.url()).hostname !== '127.0.0.1' && outside.push(r.url()));
  });

  after(async () => {
    await browser?.close();
    await stack?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(stack?.loki.problems ?? [], [], 'the Loki stand-in was asked what Loki does not take');
    assert.deepEqual(outside, [], 'requests to other hosts than 127.0.0.1');
  });

  /** A page with one widget for a fresh correlation id; console errors and page errors are collected. */
  async function open({ origin = stack.allowed.url, attrs = {} } = {}) {
    const cid = `4bf92f3577b34da6a3ce929d0e0e${String(++n).padStart(4, '0')}`;
    const q = new URLSearchParams({
      endpoint: stack.feedbackd.base,
      token: TOKEN,
      'correlation-id': cid,
      'model-id': MODEL.id,
      'model-version': MODEL.version,
      'user-id': 'u-1234',
      ...attrs,
    });
    const page = await browser.context.newPage();
    const consoleErrors = [];
    const pageErrors = [];
    page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${origin}/?${q}`);
    await page.waitForFunction(() => customElements.get('feedback-thumbs'));
    return { page, cid, consoleErrors, pageErrors };
  }

  /** The events Loki holds for cid once feedbackd has delivered everything it accepted. */
  async function delivered(cid) {
    await stack.feedbackd.drained();
    return stack.loki.entries.filter((e) => e.event.correlation_id === cid);
  }

  async function onlyEvent(cid) {
    const got = await delivered(cid);
    assert.equal(got.length, 1, `want exactly one event for ${cid}, Loki has ${JSON.stringify(got, null, 1)}`);
    const [{ event, labels }] = got;
    assert.equal(
      labels,
      `{kind="feedback", model_id="${MODEL.id}", model_version="${MODEL.version}", sentiment="${event.sentiment}", service_name="model-feedback"}`
    );
    assert.match(event.feedback_id, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(event.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    // What feedbackd fills in is checked above; the rest must be exactly what the person said.
    const { feedback_id, timestamp, severity, ...rest } = event;
    return { rest, severity };
  }

  const sentEvents = (page) => page.evaluate(() => window.sent.length);

  it('mouse: thumbs-down, two reasons and a comment make one modal event', async () => {
    const { page, cid, consoleErrors, pageErrors } = await open();
    await page.getByRole('button', { name: 'Bad answer' }).click();
    const dialog = page.getByRole('dialog', { name: 'What went wrong?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Made things up' }).click();
    await dialog.getByRole('button', { name: 'Incorrect' }).click();
    await dialog
      .getByRole('textbox', { name: 'Tell us more (optional)' })
      .fill('The refund window is 14 days, not 5. ✓');
    assert.equal(
      await dialog.getByText('40 / 4096 bytes', { exact: true }).count(),
      1,
      'the counter counts UTF-8 bytes'
    );
    await dialog.getByRole('button', { name: 'Send' }).click();
    await page.getByRole('status').filter({ hasText: 'Thanks for your feedback!' }).waitFor();
    assert.equal(await sentEvents(page), 1);
    const { rest, severity } = await onlyEvent(cid);
    assert.deepEqual(rest, {
      schema: 'feedback/v1',
      kind: 'feedback',
      correlation_id: cid,
      model: MODEL,
      sentiment: 'negative',
      reason: 'hallucination',
      tags: ['hallucination', 'factually_incorrect'],
      comment: 'The refund window is 14 days, not 5. ✓',
      source: 'modal',
      user: { id: 'u-1234' },
    });
    assert.equal(severity, 'warning');
    // The thumbs are now spent: another click sends nothing.
    // (aria-disabled keeps them focusable; playwright would wait for them to be enabled, so force the clicks.)
    await page.getByRole('button', { name: 'Bad answer' }).click({ force: true });
    await page.getByRole('button', { name: 'Good answer' }).click({ force: true });
    assert.equal(await page.getByRole('button', { name: 'Good answer' }).getAttribute('aria-disabled'), 'true');
    assert.equal((await delivered(cid)).length, 1);
    assert.equal(await page.getByRole('dialog').count(), 0);
    assert.deepEqual([consoleErrors, pageErrors], [[], []]);
    await page.close();
  });

  it('keyboard only: Tab, Enter, Space; focus stays in the dialog and comes back', async () => {
    const { page, cid, consoleErrors } = await open();
    const focused = () =>
      page.evaluate(() => {
        const el = document.getElementById('w').shadowRoot.activeElement;
        return el ? el.getAttribute('aria-label') || el.textContent.trim() || el.tagName : null;
      });
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Good answer');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Bad answer');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'What went wrong?' }).waitFor();
    assert.equal(await focused(), 'Incorrect', 'the first reason has focus when the dialog opens');
    await page.keyboard.press('Space');
    await page.keyboard.press('Tab'); // Made things up
    await page.keyboard.press('Tab'); // Offensive
    assert.equal(await focused(), 'Offensive');
    await page.keyboard.press('Enter');
    for (let i = 0; i < 4; i++) {
      await page.keyboard.press('Tab'); // Not helpful, Formatting, Other, the comment
    }
    assert.equal(await focused(), 'TEXTAREA');
    await page.keyboard.type('Rude and wrong.');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Skip');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Send');
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'Close', 'Tab past the last control wraps to the first one of the dialog');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(), 'Send', 'Shift+Tab wraps back');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Thanks for your feedback!' }).waitFor();
    assert.equal(await focused(), 'Bad answer', 'focus returns to the thumb that opened the dialog');
    const { rest, severity } = await onlyEvent(cid);
    assert.deepEqual(rest, {
      schema: 'feedback/v1',
      kind: 'feedback',
      correlation_id: cid,
      model: MODEL,
      sentiment: 'negative',
      reason: 'factually_incorrect',
      tags: ['factually_incorrect', 'offensive'],
      comment: 'Rude and wrong.',
      source: 'modal',
      user: { id: 'u-1234' },
    });
    assert.equal(severity, 'critical', 'feedbackd derives critical from offensive');
    assert.deepEqual(consoleErrors, []);
    await page.close();
  });

  it('a dismissed dialog (Escape) records a plain thumbs-down', async () => {
    const { page, cid } = await open();
    await page.getByRole('button', { name: 'Bad answer' }).click();
    const dialog = page.getByRole('dialog', { name: 'What went wrong?' });
    await dialog.getByRole('button', { name: 'Offensive' }).click();
    await page.keyboard.press('Escape');
    await page.getByRole('status').filter({ hasText: 'Thanks for your feedback!' }).waitFor();
    assert.equal(await page.getByRole('dialog').count(), 0);
    const { rest } = await onlyEvent(cid);
    assert.deepEqual(rest, {
      schema: 'feedback/v1',
      kind: 'feedback',
      correlation_id: cid,
      model: MODEL,
      sentiment: 'negative',
      source: 'thumbs',
      user: { id: 'u-1234' },
    });
    await page.close();
  });

  it('Skip records a plain thumbs-down too, and comment="off" hides the comment', async () => {
    const { page, cid } = await open({ attrs: { comment: 'off', reasons: 'latency,other' } });
    await page.getByRole('button', { name: 'Bad answer' }).click();
    const dialog = page.getByRole('dialog', { name: 'What went wrong?' });
    await dialog.waitFor();
    assert.equal(await dialog.getByRole('textbox').count(), 0);
    assert.deepEqual(await dialog.getByRole('group', { name: 'Reasons' }).getByRole('button').allTextContents(), [
      'Too slow',
      'Other',
    ]);
    await dialog.getByRole('button', { name: 'Skip' }).click();
    await page.getByRole('status').filter({ hasText: 'Thanks for your feedback!' }).waitFor();
    const { rest } = await onlyEvent(cid);
    assert.equal(rest.source, 'thumbs');
    assert.equal(rest.sentiment, 'negative');
    assert.equal(rest.reason, undefined);
    await page.close();
  });

  it('a page closed right after the click still delivers (keepalive)', async () => {
    // The preflight takes 500 ms, so the page is surely gone while the request is on its way.
    const slow = await startSlowProxy(stack.feedbackd.base, 500);
    const { page, cid } = await open({ attrs: { endpoint: slow.url } });
    await page.getByRole('button', { name: 'Good answer' }).click();
    await page.close({ runBeforeUnload: false });
    let got = [];
    for (let i = 0; i < 200 && got.length === 0; i++) {
      got = await delivered(cid);
      if (!got.length) {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    assert.equal(
      got.length,
      1,
      `the thumbs-up of the closed page reached Loki once (proxy: ${JSON.stringify(slow.stats)})`
    );
    assert.deepEqual(
      slow.stats,
      { dropped: [], forwarded: ['OPTIONS 204', 'POST 202'] },
      'the preflight and the POST went through'
    );
    await slow.close();
    const { rest } = await onlyEvent(cid);
    assert.deepEqual(rest, {
      schema: 'feedback/v1',
      kind: 'feedback',
      correlation_id: cid,
      model: MODEL,
      sentiment: 'positive',
      source: 'thumbs',
      user: { id: 'u-1234' },
    });
  });

  it('an origin not in cors-origins shows the error state and a console error', async () => {
    const { page, cid, consoleErrors } = await open({ origin: stack.other.url });
    const refused = await stack.feedbackd.metric('feedbackd_ingest_requests_total', { code: '403' });
    await page.getByRole('button', { name: 'Good answer' }).click();
    const alert = page.getByRole('alert');
    // The client retries a request the browser refused (CORS refusals look like network errors) before giving up.
    await alert.waitFor({ timeout: 30_000 });
    assert.match(
      await alert.textContent(),
      /^Feedback not sent: could not reach feedbackd at .*\/v1\/feedback: .*is not in feedbackd's cors-origins\)$/
    );
    assert.deepEqual(await page.evaluate(() => window.failed.map((f) => f.status)), [0]);
    assert.ok(
      consoleErrors.some((e) => e.startsWith('feedback-thumbs: feedback was not recorded: could not reach feedbackd')),
      `console errors: ${consoleErrors}`
    );
    // The first try and the widget's four retries: each a preflight feedbackd refused, so no POST was ever sent.
    assert.equal((await stack.feedbackd.metric('feedbackd_ingest_requests_total', { code: '403' })) - refused, 5);
    assert.equal((await delivered(cid)).length, 0);
    await page.close();
  });

  it("a wrong token shows feedbackd's refusal at once, not retried", async () => {
    const { page, cid, consoleErrors } = await open({ attrs: { token: 'not-a-token' } });
    const before401 = await stack.feedbackd.metric('feedbackd_ingest_requests_total', { code: '401' });
    await page.getByRole('button', { name: 'Good answer' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal(
      await alert.textContent(),
      'Feedback not sent: feedbackd refused POST /v1/feedback (HTTP 401): missing or invalid bearer token'
    );
    assert.equal((await stack.feedbackd.metric('feedbackd_ingest_requests_total', { code: '401' })) - before401, 1);
    assert.ok(
      consoleErrors.some((e) => e.includes('HTTP 401')),
      `console errors: ${consoleErrors}`
    );
    assert.equal((await delivered(cid)).length, 0);
    // The buttons stay usable so the person can try again.
    assert.equal(await page.getByRole('button', { name: 'Good answer' }).getAttribute('aria-disabled'), 'false');
    await page.close();
  });

  it('roles, names and focus pass axe, closed and open; labels in another language', async () => {
    const { page } = await open({
      attrs: {
        labels: JSON.stringify({
          up: 'Gute Antwort',
          down: 'Schlechte Antwort',
          title: 'Was war falsch?',
          tags: { hallucination: 'Erfunden' },
        }),
      },
    });
    await page.addScriptTag({ content: axeSource });
    const axe = () =>
      page.evaluate(async () => {
        const r = await window.axe.run(document, {
          runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'],
        });
        return r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
      });
    assert.deepEqual(await axe(), []);
    assert.equal(await page.getByRole('group', { name: 'Rate this answer' }).count(), 1);
    assert.equal(await page.getByRole('button', { name: 'Gute Antwort', pressed: false }).count(), 1);
    await page.getByRole('button', { name: 'Schlechte Antwort' }).click();
    const dialog = page.getByRole('dialog', { name: 'Was war falsch?' });
    await dialog.waitFor();
    assert.equal(await dialog.evaluate((d) => d.matches(':modal')), true, 'a modal dialog: the page behind is inert');
    await dialog.getByRole('button', { name: 'Erfunden' }).click();
    assert.equal(await dialog.getByRole('button', { name: 'Erfunden', pressed: true }).count(), 1);
    const comment = dialog.getByRole('textbox', { name: 'Tell us more (optional)' });
    assert.equal(await comment.getAttribute('aria-describedby'), 'fn');
    assert.deepEqual(await axe(), []);
    // Over 4 KiB (UTF-8) the comment is marked invalid, the counter says so and Send is off.
    await comment.fill('é'.repeat(2049));
    assert.equal(await comment.getAttribute('aria-invalid'), 'true');
    assert.equal(await dialog.getByText('4098 / 4096 bytes The comment is too long.', { exact: true }).count(), 1);
    assert.equal(await dialog.getByRole('button', { name: 'Send' }).isDisabled(), true);
    await comment.fill('é'.repeat(2048));
    assert.equal(await dialog.getByRole('button', { name: 'Send' }).isDisabled(), false);
    await page.close();
  });

  it("timing: thumbs-down to feedbackd's 202 in three actions", async () => {
    const { page, cid } = await open();
    const accepted = page.waitForResponse((r) => r.url().endsWith('/v1/feedback') && r.request().method() === 'POST');
    const start = performance.now();
    await page.getByRole('button', { name: 'Bad answer' }).click(); // 1
    await page.getByRole('button', { name: 'Not helpful' }).click(); // 2
    await page.getByRole('button', { name: 'Send' }).click(); // 3
    const res = await accepted;
    const ms = performance.now() - start;
    assert.equal(res.status(), 202);
    console.log(`timing: thumbs-down click to feedbackd's 202 in 3 actions (scripted user): ${ms.toFixed(0)} ms`);
    const { rest } = await onlyEvent(cid);
    assert.equal(rest.reason, 'not_helpful');
    await page.close();
  });

  it("the demo's chat page: a question, its answer, a thumbs-down with a reason, joined in feedbackd", async () => {
    const bin = path.join(tmp, 'feedback-demo');
    const build = spawnSync('go', ['build', '-o', bin, './pkg/cmd/feedback-demo'], { cwd: repo, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    const log = [];
    // A slow simulated traffic beside the person: the chat is what this test is about.
    const demo = spawn(
      bin,
      [
        '-listen',
        `127.0.0.1:${demoPort}`,
        '-feedbackd-url',
        stack.feedbackd.base,
        '-token',
        SERVER_TOKEN,
        '-widget-token',
        TOKEN,
        '-rate',
        '0.01',
        '-resolve-after',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] }
    );
    demo.stderr.on('data', (d) => log.push(String(d)));
    try {
      const page = await browser.context.newPage();
      const consoleErrors = [];
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
      for (let i = 0; ; i++) {
        try {
          await page.goto(`http://127.0.0.1:${demoPort}/`);
          break;
        } catch (err) {
          assert.ok(i < 100, `feedback-demo did not serve its chat page: ${err.message}\n${log.join('')}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await page.getByRole('textbox', { name: 'Your question' }).fill('Can I return opened headphones?');
      await page.getByRole('button', { name: 'Send', exact: true }).click();
      await page.getByRole('button', { name: 'Bad answer' }).click();
      await page.getByRole('dialog', { name: 'What went wrong?' }).getByRole('button', { name: 'Not helpful' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Send' }).click();
      await page.getByRole('status').filter({ hasText: 'Thanks for your feedback!' }).waitFor();
      const cid = await page.locator('feedback-thumbs').getAttribute('correlation-id');
      const user = await page.locator('feedback-thumbs').getAttribute('user-id');
      const got = await delivered(cid);
      assert.deepEqual(got.map((e) => e.event.kind).sort(), ['feedback', 'interaction']);
      const interaction = got.find((e) => e.event.kind === 'interaction').event;
      const fbk = got.find((e) => e.event.kind === 'feedback').event;
      assert.equal(interaction.context.input, 'Can I return opened headphones?');
      assert.equal(await page.locator('.bot p').first().textContent(), interaction.context.output);
      assert.match(interaction.model.effective_version, /^ev-[0-9a-f]+$/, "feedbackd hashed the snapshot's context");
      // The widget sends only the model id and version; feedbackd's enrichment
      // (docs/enrichment.md) copies the interaction's release time and
      // effective version onto the feedback.
      assert.deepEqual(fbk.model, {
        id: interaction.model.id,
        version: interaction.model.version,
        released_at: interaction.model.released_at,
        effective_version: interaction.model.effective_version,
      });
      assert.ok(interaction.model.released_at, 'the demo sets released_at on its versions');
      assert.deepEqual(
        [fbk.sentiment, fbk.reason, fbk.source, fbk.user.id],
        ['negative', 'not_helpful', 'modal', user]
      );
      assert.match(user, /^visitor-[0-9a-z]+$/);
      assert.deepEqual(consoleErrors, []);
      await page.screenshot({ path: path.join(tmp, 'chat.png') });
      if (process.env.SCREENSHOTS) {
        fs.mkdirSync(process.env.SCREENSHOTS, { recursive: true });
        fs.copyFileSync(path.join(tmp, 'chat.png'), path.join(process.env.SCREENSHOTS, '8-demo-chat.png'));
      }
      await page.close();
    } finally {
      demo.kill('SIGTERM');
    }
  });
});
