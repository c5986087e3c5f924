// <feedback-thumbs>: the thumbs-up/down of docs/widget.md. Framework-free; every text a person sees or hears is in
// Labels, so a page can give it in its own language.

import { Client, FeedbackError } from './client';
import type { FeedbackEvent } from './events';

export { Client, FeedbackError };
export type * from './client';

export interface Labels {
  /** The group around both thumbs. */
  group: string;
  up: string;
  down: string;
  /** The dialog's heading. */
  title: string;
  reasons: string;
  comment: string;
  /** {used} and {max} are replaced by the comment's size and the limit, in bytes. */
  counter: string;
  tooLong: string;
  submit: string;
  dismiss: string;
  close: string;
  sending: string;
  sent: string;
  /** {message} is replaced by what went wrong. */
  error: string;
  /** The chips' texts by taxonomy value; a value without one shows as it is, underscores as spaces. */
  tags: Record<string, string>;
}

export const defaultLabels: Labels = {
  group: 'Rate this answer',
  up: 'Good answer',
  down: 'Bad answer',
  title: 'What went wrong?',
  reasons: 'Reasons',
  comment: 'Tell us more (optional)',
  counter: '{used} / {max} bytes',
  tooLong: 'The comment is too long.',
  submit: 'Send',
  dismiss: 'Skip',
  close: 'Close',
  sending: 'Sending…',
  sent: 'Thanks for your feedback!',
  error: 'Feedback not sent: {message}',
  tags: {
    factually_incorrect: 'Incorrect',
    hallucination: 'Made things up',
    offensive: 'Offensive',
    not_helpful: 'Not helpful',
    formatting_error: 'Formatting',
    other: 'Other',
    latency: 'Too slow',
    bias: 'Biased',
    harmful: 'Harmful',
  },
};

const DEFAULT_REASONS = 'factually_incorrect,hallucination,offensive,not_helpful,formatting_error,other';
const MAX_COMMENT = 4096;
const encoder = new TextEncoder();

const clients = new Map<string, Client>();

/** One client per feedbackd and token, shared by every widget of the page. */
function clientFor(endpoint: string, token: string): Client {
  const key = endpoint + '\n' + token;
  let c = clients.get(key);
  if (!c) {
    // Fewer, shorter retries than the client's default: a person is looking at the status.
    c = new Client({ endpoint, token, retries: 4, baseDelay: 400 });
    clients.set(key, c);
  }
  return c;
}

const thumb = (d: string) =>
  `<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path d="${d}"/></svg>`;
const UP = thumb(
  'M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.5-1L13.2 1 6.6 7.6A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1.2-.7v-2z'
);
const DOWN = thumb(
  'M22 3h-4v12h4V3zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3a1.5 1.5 0 0 0 .5 1l1.1 1.1 6.6-6.6A2 2 0 0 0 18 15V5a2 2 0 0 0-2-2H7a2 2 0 0 0-1.8 1.2l-3 7.1L2 12v2z'
);

const STYLE = `
:host{display:inline-block;font:var(--feedback-font,inherit);color:var(--feedback-color,inherit)}
[hidden]{display:none!important}
.bar{display:inline-flex;align-items:center;gap:4px}
button{font:inherit;cursor:pointer;border-radius:var(--feedback-radius,8px)}
button:focus-visible,textarea:focus-visible{outline:2px solid var(--feedback-focus,var(--feedback-accent,#2563eb));outline-offset:2px}
.t{display:inline-grid;place-items:center;width:var(--feedback-size,32px);height:var(--feedback-size,32px);padding:0;border:1px solid transparent;background:none;color:var(--feedback-muted,#6b7280)}
.t svg{fill:currentColor}
.t:hover{background:var(--feedback-hover,rgba(0,0,0,.06))}
.t[aria-pressed=true]{color:var(--feedback-accent,#2563eb);border-color:currentColor}
.t[aria-disabled=true]{cursor:default}
.s{font-size:.85em;color:var(--feedback-muted,#6b7280);margin-left:4px}
.e,.n.e{color:var(--feedback-error,#b91c1c)}
dialog{box-sizing:border-box;width:min(26rem,calc(100vw - 2rem));border:1px solid var(--feedback-border,#d1d5db);border-radius:var(--feedback-radius,8px);background:var(--feedback-bg,#fff);color:var(--feedback-text,#111827);padding:1rem 1.25rem;font:var(--feedback-font,inherit);box-shadow:0 10px 30px rgba(0,0,0,.2)}
dialog::backdrop{background:var(--feedback-backdrop,rgba(0,0,0,.35))}
.h{display:flex;justify-content:space-between;align-items:center;gap:8px}
h2{font-size:1.05rem;margin:0}
.x{border:none;background:none;font-size:1.3rem;line-height:1;padding:4px 8px;color:inherit}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin:.75rem 0}
.c{border:1px solid var(--feedback-border,#d1d5db);background:var(--feedback-chip-bg,transparent);color:inherit;padding:4px 12px;border-radius:999px}
.c[aria-pressed=true]{background:var(--feedback-accent,#2563eb);border-color:var(--feedback-accent,#2563eb);color:var(--feedback-accent-text,#fff)}
label{display:block;font-size:.9rem;margin-bottom:4px}
textarea{box-sizing:border-box;width:100%;min-height:5rem;font:inherit;border:1px solid var(--feedback-border,#d1d5db);border-radius:6px;padding:6px;background:transparent;color:inherit}
textarea[aria-invalid=true]{border-color:var(--feedback-error,#b91c1c)}
.n{display:block;text-align:right;font-size:.8rem;color:var(--feedback-muted,#6b7280)}
.a{display:flex;justify-content:flex-end;gap:8px;margin-top:.75rem}
.a button{padding:6px 14px;border:1px solid var(--feedback-border,#d1d5db);background:none;color:inherit}
.a .ok{background:var(--feedback-accent,#2563eb);border-color:var(--feedback-accent,#2563eb);color:var(--feedback-accent-text,#fff)}
.a .ok:disabled{opacity:.5;cursor:not-allowed}
`;

const TEMPLATE = `<style>${STYLE}</style>
<div class="bar" part="bar" role="group">
<button class="t up" part="button up" type="button" aria-pressed="false">${UP}</button>
<button class="t down" part="button down" type="button" aria-pressed="false">${DOWN}</button>
<span class="s" part="status" role="status" aria-live="polite"></span>
</div>
<dialog part="dialog" aria-labelledby="ft">
<form class="f" novalidate>
<div class="h"><h2 id="ft" part="title"></h2><button class="x" part="close" type="button">×</button></div>
<div class="chips" part="chips" role="group"></div>
<div class="cm"><label for="fc" part="comment-label"></label>
<textarea id="fc" part="comment" aria-describedby="fn"></textarea>
<span id="fn" class="n" part="counter" aria-live="polite"></span></div>
<div class="a" part="actions"><button class="no" part="dismiss" type="button"></button><button class="ok" part="submit" type="submit"></button></div>
</form>
</dialog>`;

type State = 'idle' | 'open' | 'sending' | 'sent' | 'error';

/**
 * The thumbs-up/down of one answer. Thumbs-up sends a positive event at once; thumbs-down opens a dialog of reason
 * chips and a comment, and sends one negative event when it is submitted (source modal) or dismissed (source thumbs).
 */
export class FeedbackThumbs extends HTMLElement {
  static observedAttributes = ['reasons', 'comment', 'labels', 'correlation-id'];

  private root: ShadowRoot;
  private _labels: Partial<Labels> = {};
  private chosen: string[] = [];
  private state: State = 'idle';

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    this.root.innerHTML = TEMPLATE;
    const $ = this.$.bind(this);
    $('.up').onclick = () => this.positive();
    $('.down').onclick = () => this.openDialog();
    $('.x').onclick = $('.no').onclick = () => this.closeDialog(false);
    $('.f').onsubmit = (e) => {
      e.preventDefault();
      this.closeDialog(true);
    };
    const dialog = this.dialog;
    // Escape: the browser's cancel, which would close the dialog without telling which way.
    dialog.oncancel = (e) => {
      e.preventDefault();
      this.closeDialog(false);
    };
    dialog.onkeydown = (e) => this.trapFocus(e);
    $('textarea').oninput = () => this.count();
  }

  /** Texts replacing the defaults (also settable as JSON in the labels attribute). */
  get labels(): Partial<Labels> {
    return this._labels;
  }
  set labels(v: Partial<Labels>) {
    this._labels = v || {};
    this.render();
  }

  connectedCallback() {
    this.render();
  }

  attributeChangedCallback(name: string, old: string | null, value: string | null) {
    if (name === 'labels') {
      try {
        this._labels = value ? JSON.parse(value) : {};
      } catch (err) {
        console.error('feedback-thumbs: the labels attribute is not JSON:', err);
      }
    }
    if (name === 'correlation-id' && old !== null && old !== value) {
      // A reused element now stands for another answer.
      this.setState('idle');
    }
    this.render();
  }

  private $<T extends HTMLElement = HTMLElement>(sel: string): T {
    return this.root.querySelector(sel) as T;
  }

  private get dialog(): HTMLDialogElement {
    return this.$('dialog');
  }

  private label<K extends keyof Labels>(k: K): Labels[K] {
    return this._labels[k] ?? defaultLabels[k];
  }

  private tagLabel(t: string): string {
    return this._labels.tags?.[t] ?? defaultLabels.tags[t] ?? t.replace(/_/g, ' ');
  }

  private render(): void {
    const $ = this.$.bind(this);
    $('.bar').setAttribute('aria-label', this.label('group'));
    $('.up').setAttribute('aria-label', this.label('up'));
    $('.up').title = this.label('up');
    $('.down').setAttribute('aria-label', this.label('down'));
    $('.down').title = this.label('down');
    $('h2').textContent = this.label('title');
    $('.x').setAttribute('aria-label', this.label('close'));
    $('.chips').setAttribute('aria-label', this.label('reasons'));
    $('label').textContent = this.label('comment');
    $('.no').textContent = this.label('dismiss');
    $('.ok').textContent = this.label('submit');
    $('.cm').hidden = this.getAttribute('comment') === 'off';
    const chips = $('.chips');
    chips.textContent = '';
    for (const r of this.reasons()) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'c';
      b.dataset.reason = r;
      b.setAttribute('part', 'chip');
      b.textContent = this.tagLabel(r);
      b.onclick = () => this.toggle(r);
      chips.append(b);
    }
    this.paintChips();
    this.count();
  }

  private reasons(): string[] {
    return (this.getAttribute('reasons') || DEFAULT_REASONS)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  }

  private toggle(r: string): void {
    const i = this.chosen.indexOf(r);
    i < 0 ? this.chosen.push(r) : this.chosen.splice(i, 1);
    this.paintChips();
  }

  private paintChips(): void {
    this.root.querySelectorAll<HTMLElement>('.c').forEach((b) => {
      const on = this.chosen.includes(b.dataset.reason!);
      b.setAttribute('aria-pressed', String(on));
      b.setAttribute('part', on ? 'chip chip-selected' : 'chip');
    });
  }

  private commentBytes(): number {
    return encoder.encode(this.$<HTMLTextAreaElement>('textarea').value).length;
  }

  private count(): void {
    const used = this.commentBytes();
    const over = used > MAX_COMMENT;
    const n = this.$('.n');
    n.textContent =
      this.label('counter').replace('{used}', String(used)).replace('{max}', String(MAX_COMMENT)) +
      (over ? ' ' + this.label('tooLong') : '');
    n.classList.toggle('e', over);
    this.$('textarea').setAttribute('aria-invalid', String(over));
    this.$<HTMLButtonElement>('.ok').disabled = over;
  }

  private focusables(): HTMLElement[] {
    return [...this.dialog.querySelectorAll<HTMLElement>('button,textarea')].filter(
      (el) => !(el as HTMLButtonElement).disabled && el.offsetParent !== null
    );
  }

  /** Tab and Shift+Tab stay inside the open dialog (a modal dialog alone lets them reach the browser's own UI). */
  private trapFocus(e: KeyboardEvent): void {
    if (e.key !== 'Tab') {
      return;
    }
    const els = this.focusables();
    const at = els.indexOf(this.root.activeElement as HTMLElement);
    const next = e.shiftKey ? (at <= 0 ? els.length - 1 : at - 1) : at === els.length - 1 ? 0 : at + 1;
    e.preventDefault();
    els[next]?.focus();
  }

  private openDialog(): void {
    if (this.state === 'sending' || this.state === 'sent' || this.dialog.open) {
      return;
    }
    this.chosen = [];
    this.$<HTMLTextAreaElement>('textarea').value = '';
    this.render();
    this.setState('open', 'down');
    this.dialog.showModal();
    this.$('.c')?.focus();
  }

  private closeDialog(submitted: boolean): void {
    if (!this.dialog.open) {
      return;
    }
    if (submitted && this.commentBytes() > MAX_COMMENT) {
      return;
    }
    this.dialog.close();
    this.$('.down').focus();
    const comment = this.$<HTMLTextAreaElement>('textarea').value.trim();
    const detailed = submitted && (this.chosen.length > 0 || comment !== '');
    this.send({
      sentiment: 'negative',
      source: detailed ? 'modal' : 'thumbs',
      ...(detailed && this.chosen.length ? { reason: this.chosen[0], tags: [...this.chosen] } : {}),
      ...(detailed && comment && this.getAttribute('comment') !== 'off' ? { comment } : {}),
    });
  }

  private positive(): void {
    if (this.state === 'sending' || this.state === 'sent') {
      return;
    }
    this.setState('idle', 'up');
    this.send({ sentiment: 'positive', source: 'thumbs' });
  }

  private async send(part: Pick<FeedbackEvent, 'sentiment' | 'source' | 'reason' | 'tags' | 'comment'>) {
    const attr = (n: string) => this.getAttribute(n) || '';
    const userId = attr('user-id');
    const event: FeedbackEvent = {
      correlation_id: attr('correlation-id'),
      model: { id: attr('model-id'), version: attr('model-version') },
      ...part,
      ...(userId ? { user: { id: userId } } : {}),
    };
    this.setState('sending', part.sentiment === 'positive' ? 'up' : 'down');
    try {
      const missing = ['endpoint', 'correlation-id', 'model-id', 'model-version'].filter((n) => !attr(n));
      if (missing.length) {
        throw new FeedbackError(`the attribute ${missing.join(', ')} is missing`, 0);
      }
      const c = clientFor(attr('endpoint'), attr('token'));
      const done = c.feedback(event);
      void c.flush();
      const { id } = await done;
      this.setState('sent', part.sentiment === 'positive' ? 'up' : 'down');
      this.emit('feedback-sent', { id, event });
    } catch (err) {
      const e = err as FeedbackError;
      console.error('feedback-thumbs: feedback was not recorded:', e.message, e.details ?? '');
      this.setState('error', undefined, e.message);
      this.emit('feedback-error', { error: e, event });
    }
  }

  private emit(type: string, detail: object): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  private setState(state: State, pressed?: 'up' | 'down', message = ''): void {
    this.state = state;
    this.setAttribute('state', state);
    const up = this.$<HTMLButtonElement>('.up');
    const down = this.$<HTMLButtonElement>('.down');
    up.setAttribute('aria-pressed', String(pressed === 'up'));
    down.setAttribute('aria-pressed', String(pressed === 'down'));
    // Once sent, the answer is rated: one event per answer, never two. aria-disabled, not disabled, so that focus
    // returned to the thumb after the dialog stays there.
    const done = String(state === 'sending' || state === 'sent');
    up.setAttribute('aria-disabled', done);
    down.setAttribute('aria-disabled', done);
    const s = this.$('.s');
    const err = state === 'error';
    s.className = err ? 's e' : 's';
    s.setAttribute('part', err ? 'status error' : 'status');
    s.setAttribute('role', err ? 'alert' : 'status');
    s.textContent =
      state === 'sending'
        ? this.label('sending')
        : state === 'sent'
          ? this.label('sent')
          : err
            ? this.label('error').replace('{message}', message)
            : '';
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'feedback-thumbs': FeedbackThumbs;
  }
}

if (typeof customElements !== 'undefined' && !customElements.get('feedback-thumbs')) {
  customElements.define('feedback-thumbs', FeedbackThumbs);
}
