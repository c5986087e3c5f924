// @feedbackloop/client: sends feedback and interaction snapshots to feedbackd
// (docs/widget.md, "The client"), in the browser and in Node 18+ (both have
// fetch). Zero runtime dependencies: the widget ships in one small file.

import type { FeedbackEvent, FieldError, InteractionEvent } from './events';

export type * from './events';

export interface ClientOptions {
  /** feedbackd's base URL, e.g. https://feedback.example.com */
  endpoint: string;
  /** A bearer token: a server token, or in a browser a browser token (it may only write feedback). */
  token?: string;
  /** Most events per request; at most 1,000 (feedbackd's limit). Default 100. */
  batchSize?: number;
  /** Longest time an event waits for a batch to fill, in ms. Default 1,000. */
  flushInterval?: number;
  /** Retries after a network error, 429, 502, 503 or 504. Default 5. */
  retries?: number;
  /** First backoff in ms, doubled per retry (with jitter) up to maxDelay. Default 500. */
  baseDelay?: number;
  /** Longest wait between two tries in ms, Retry-After included. Default 30,000. */
  maxDelay?: number;
  /** Told of every retry before its wait: for logs and metrics. */
  onRetry?: (info: RetryInfo) => void;
  /** Replaces the global fetch (e.g. a proxying one). */
  fetch?: typeof fetch;
}

export interface RetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  /** How long the client waits before it: Retry-After when feedbackd sent one, else the backoff. */
  delay: number;
  /** The HTTP status that caused it; 0 for a network error. */
  status: number;
  path: string;
  events: number;
}

/** What feedbackd answered for one accepted event. */
export interface Accepted {
  /** The event's idempotency key: feedback_id, or correlation_id for an interaction. */
  id: string;
}

/**
 * feedbackd refused a request, or it could not be delivered. status 0 means no HTTP answer (network error, or a
 * browser refusing a cross-origin answer: the page's origin is not in feedbackd's cors-origins).
 */
export class FeedbackError extends Error {
  readonly status: number;
  /** The fields feedbackd named (400), index being the event's position in its request. */
  readonly details: FieldError[];
  /** Whether the client gave up after retrying (network errors, 429, 5xx) rather than being refused. */
  readonly retriable: boolean;
  constructor(message: string, status: number, details: FieldError[] = [], retriable = false) {
    super(message);
    this.name = 'FeedbackError';
    this.status = status;
    this.details = details;
    this.retriable = retriable;
  }
}

interface Pending {
  event: object;
  resolve: (a: Accepted) => void;
  reject: (e: FeedbackError) => void;
}

interface Queue {
  items: Pending[];
  timer?: ReturnType<typeof setTimeout>;
}

const FEEDBACK = '/v1/feedback';
const INTERACTIONS = '/v1/interactions';
const RETRIABLE = [429, 502, 503, 504];
/** fetch refuses keepalive bodies over 64 KiB (all keepalive requests of a page together). */
const KEEPALIVE_MAX = 60_000;
const encoder = new TextEncoder();

export class Client {
  private readonly opts: Required<Omit<ClientOptions, 'token' | 'onRetry' | 'fetch'>> & ClientOptions;
  private readonly queues = new Map<string, Queue>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(options: ClientOptions) {
    if (!options || !options.endpoint) {
      throw new FeedbackError('endpoint is required (feedbackd base URL)', 0);
    }
    this.opts = {
      batchSize: 100,
      flushInterval: 1000,
      retries: 5,
      baseDelay: 500,
      maxDelay: 30_000,
      ...options,
      endpoint: options.endpoint.replace(/\/+$/, ''),
    };
    if (!(this.opts.batchSize >= 1 && this.opts.batchSize <= 1000)) {
      throw new FeedbackError('batchSize must be within 1..1000', 0);
    }
    // A page being closed or hidden may never come back: send what waits now, with keepalive.
    const g = globalThis as { addEventListener?: (t: string, f: () => void) => void; document?: Document };
    if (g.document && g.addEventListener) {
      g.addEventListener('pagehide', () => void this.flush());
      g.document.addEventListener('visibilitychange', () => {
        if (g.document!.visibilityState === 'hidden') {
          void this.flush();
        }
      });
    }
  }

  /** Queues one feedback event; resolves once feedbackd has stored it durably. */
  feedback(event: FeedbackEvent): Promise<Accepted> {
    const e = {
      schema: 'feedback/v1',
      ...event,
      kind: 'feedback',
      feedback_id: event.feedback_id || ulid(),
      timestamp: event.timestamp || new Date().toISOString(),
    } as const;
    return this.enqueue(FEEDBACK, e, check(e, ['correlation_id', 'model.id', 'model.version', 'sentiment']));
  }

  /** Queues one interaction snapshot; resolves once feedbackd has stored it durably. */
  interaction(event: InteractionEvent): Promise<Accepted> {
    const e = {
      schema: 'feedback/v1',
      ...event,
      kind: 'interaction',
      timestamp: event.timestamp || new Date().toISOString(),
    } as const;
    return this.enqueue(INTERACTIONS, e, check(e, ['correlation_id', 'model.id', 'model.version']));
  }

  /** Sends everything queued now and resolves when every request so far has an outcome. */
  async flush(): Promise<void> {
    for (const path of this.queues.keys()) {
      this.send(path);
    }
    while (this.inFlight.size) {
      await Promise.all([...this.inFlight]);
    }
  }

  private enqueue(path: string, event: object, invalid?: FeedbackError): Promise<Accepted> {
    return new Promise((resolve, reject) => {
      if (invalid) {
        reject(invalid);
        return;
      }
      let q = this.queues.get(path);
      if (!q) {
        q = { items: [] };
        this.queues.set(path, q);
      }
      q.items.push({ event, resolve, reject });
      if (q.items.length >= this.opts.batchSize) {
        this.send(path);
      } else if (!q.timer) {
        q.timer = setTimeout(() => this.send(path), this.opts.flushInterval);
      }
    });
  }

  private send(path: string): void {
    const q = this.queues.get(path);
    if (!q) {
      return;
    }
    clearTimeout(q.timer);
    q.timer = undefined;
    while (q.items.length) {
      const batch = q.items.splice(0, this.opts.batchSize);
      const p = this.post(path, batch).finally(() => this.inFlight.delete(p));
      this.inFlight.add(p);
    }
  }

  private async post(path: string, batch: Pending[]): Promise<void> {
    const body = JSON.stringify(batch.length === 1 ? batch[0].event : batch.map((b) => b.event));
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (this.opts.token) {
      headers.Authorization = 'Bearer ' + this.opts.token;
    }
    const doFetch = this.opts.fetch || fetch;
    const keepalive = encoder.encode(body).length <= KEEPALIVE_MAX;
    let failure: FeedbackError;
    for (let attempt = 0; ; attempt++) {
      let status = 0;
      let retryAfter: number | undefined;
      try {
        const res = await doFetch(this.opts.endpoint + path, { method: 'POST', headers, body, keepalive });
        status = res.status;
        const text = await res.text();
        const answer = parse(text);
        if (status === 202) {
          const ids: unknown = answer?.ids;
          batch.forEach((b, i) => b.resolve({ id: Array.isArray(ids) ? String(ids[i]) : '' }));
          return;
        }
        const msg =
          typeof answer?.error === 'string' ? answer.error : text.trim().slice(0, 200) || res.statusText || 'no body';
        const details = Array.isArray(answer?.details) ? (answer.details as FieldError[]) : [];
        const retriable = RETRIABLE.includes(status);
        failure = new FeedbackError(
          `feedbackd refused POST ${path} (HTTP ${status}): ${msg}`,
          status,
          details,
          retriable
        );
        if (!retriable) {
          break;
        }
        retryAfter = parseRetryAfter(res.headers.get('Retry-After'));
      } catch (err) {
        const origin = (globalThis as { location?: Location }).location?.origin;
        failure = new FeedbackError(
          `could not reach feedbackd at ${this.opts.endpoint}${path}: ${(err as Error).message}` +
            (origin ? ` (a network error, or this page's origin ${origin} is not in feedbackd's cors-origins)` : ''),
          0,
          [],
          true
        );
      }
      if (attempt >= this.opts.retries) {
        break;
      }
      // Equal jitter: clients that failed together do not retry together, and none retries at once.
      const backoff = Math.min(this.opts.maxDelay, this.opts.baseDelay * 2 ** attempt);
      const delay = Math.min(this.opts.maxDelay, retryAfter ?? backoff / 2 + (Math.random() * backoff) / 2);
      this.opts.onRetry?.({ attempt: attempt + 1, delay, status, path, events: batch.length });
      await new Promise((r) => setTimeout(r, delay));
    }
    batch.forEach((b) => b.reject(failure));
  }
}

function parse(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Retry-After in ms: delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(v: string | null): number | undefined {
  if (!v) {
    return undefined;
  }
  if (/^\d+$/.test(v.trim())) {
    return Number(v) * 1000;
  }
  const t = Date.parse(v);
  return isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

function check(e: object, required: string[]): FeedbackError | undefined {
  const missing = required.filter((path) => !path.split('.').reduce<any>((o, k) => o?.[k], e));
  if (missing.length) {
    return new FeedbackError(
      `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} required`,
      0,
      missing.map((field) => ({ index: 0, field, message: 'required' }))
    );
  }
  const comment = (e as FeedbackEvent).comment;
  if (comment && encoder.encode(comment).length > 4096) {
    return new FeedbackError('comment is over 4 KiB', 0, [
      { index: 0, field: 'comment', message: 'at most 4096 bytes' },
    ]);
  }
  return undefined;
}

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A ULID (time-ordered, 26 characters), as feedbackd makes for feedback without an id. Made here so that a retried
 * event keeps its id and is stored once; ten lines do not justify a runtime dependency.
 */
export function ulid(now = Date.now()): string {
  let out = '';
  for (let i = 9; i >= 0; i--) {
    out = CROCKFORD[now % 32] + out;
    now = Math.floor(now / 32);
  }
  // Node 18 has no global crypto; uniqueness, not secrecy, is what an id needs.
  const c = (globalThis as { crypto?: Crypto }).crypto;
  const rnd = c ? c.getRandomValues(new Uint8Array(16)) : Array.from({ length: 16 }, () => Math.random() * 256);
  for (const b of rnd) {
    out += CROCKFORD[Math.floor(b) % 32];
  }
  return out;
}
