// Writes PNGs of the widget's states to screenshots/: the real widget (dist/, so run npm run build first) in Debian's
// chromium against the real feedbackd, as the browser tests run them. Run: npm run screenshots
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TOKEN, launchChromium, sdk, startStack } from '../test/harness.mjs';

const out = path.join(sdk, 'screenshots');
fs.mkdirSync(out, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'feedbackloop-sdk-shots-'));
const stack = await startStack(tmp);
const browser = await launchChromium();
let n = 0;

async function open(origin = stack.allowed.url, attrs = {}) {
  const q = new URLSearchParams({
    endpoint: stack.feedbackd.base,
    token: TOKEN,
    'correlation-id': `0af7651916cd43dd8448eb211c80${String(++n).padStart(4, '0')}`,
    'model-id': 'support-bot',
    'model-version': '2026-11-18.3',
    ...attrs,
  });
  const page = await browser.context.newPage();
  await page.goto(`${origin}/?${q}`);
  await page.waitForFunction(() => customElements.get('feedback-thumbs'));
  return page;
}
const shot = async (page, name, fullPage = false) => {
  const file = path.join(out, name);
  await (fullPage ? page.screenshot({ path: file }) : page.locator('.answer').screenshot({ path: file }));
  console.log(file);
};

try {
  let page = await open();
  await shot(page, '1-idle.png');
  await page.keyboard.press('Tab');
  await shot(page, '2-focused.png');
  await page.getByRole('button', { name: 'Bad answer' }).click();
  await page.getByRole('button', { name: 'Made things up' }).click();
  await page.getByRole('button', { name: 'Incorrect' }).click();
  await page.getByRole('textbox').fill('The refund window is 14 days, not 5.');
  await shot(page, '3-dialog.png', true);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByText('Thanks for your feedback!').waitFor();
  await shot(page, '4-sent.png');

  page = await open();
  await page.getByRole('button', { name: 'Bad answer' }).click();
  await page.getByRole('textbox').fill('é'.repeat(2049));
  await shot(page, '5-comment-too-long.png', true);

  page = await open(stack.other.url);
  await page.getByRole('button', { name: 'Good answer' }).click();
  await page.getByRole('alert').waitFor({ timeout: 30_000 });
  await shot(page, '6-error-origin-not-allowed.png');

  page = await open(stack.allowed.url, {
    labels: JSON.stringify({
      group: 'Diese Antwort bewerten',
      up: 'Gute Antwort',
      down: 'Schlechte Antwort',
      title: 'Was war falsch?',
      reasons: 'Gründe',
      comment: 'Mehr dazu (optional)',
      submit: 'Senden',
      dismiss: 'Überspringen',
      close: 'Schließen',
      sent: 'Danke!',
      tags: {
        factually_incorrect: 'Falsch',
        hallucination: 'Erfunden',
        offensive: 'Beleidigend',
        not_helpful: 'Nicht hilfreich',
        formatting_error: 'Formatierung',
        other: 'Anderes',
      },
    }),
  });
  await page.addStyleTag({
    content:
      'feedback-thumbs{--feedback-accent:#7c3aed;--feedback-radius:2px;--feedback-font:15px Georgia,serif} feedback-thumbs::part(dialog){background:#faf5ff}',
  });
  await page.getByRole('button', { name: 'Schlechte Antwort' }).click();
  await page.getByRole('button', { name: 'Erfunden' }).click();
  await shot(page, '7-german-themed-dialog.png', true);
} finally {
  await browser.close();
  await stack.close();
  fs.rmSync(tmp, { recursive: true, force: true });
}
