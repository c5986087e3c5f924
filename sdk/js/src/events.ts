// The events the client sends, as feedbackd takes them (docs/widget.md, "The
// events"). test/schema.test.mjs compares these interfaces with the JSON Schema
// generated from pkg/feedback, so a field added there without being added here
// fails a test.

export type Sentiment = 'positive' | 'negative' | 'neutral';
export type Severity = 'info' | 'warning' | 'critical';
export type Source = 'thumbs' | 'modal' | 'edit' | 'survey' | 'api' | 'reviewer';

/** The built-in value set of reason and tags; teams may add tags matching ^[a-z][a-z0-9_]{0,39}$. */
export type TaxonomyTag =
  | 'hallucination'
  | 'factually_incorrect'
  | 'formatting_error'
  | 'latency'
  | 'bias'
  | 'offensive'
  | 'harmful'
  | 'not_helpful'
  | 'other';

export interface Model {
  id: string;
  version: string;
  /** RFC 3339 */
  released_at?: string;
  /** Computed by feedbackd from the interaction's context. */
  effective_version?: string;
}

export interface User {
  id?: string;
  role?: string;
  geo?: string;
}

export interface Context {
  system_prompt?: string;
  input?: string;
  output?: string;
  params?: Record<string, number | string>;
  prompt_version?: string;
}

export interface Edit {
  original_chars?: number;
  edited_chars?: number;
  /** 0..1 */
  similarity?: number;
}

interface Common {
  schema?: 'feedback/v1';
  /** RFC 3339; the client sets the send time when absent. */
  timestamp?: string;
  correlation_id: string;
  model: Model;
  user?: User;
  /** At most 32 keys. */
  attributes?: Record<string, string>;
  /** The execution's snapshot; usually sent once, as an interaction, and joined by correlation_id. */
  context?: Context;
}

/** A user's reaction: an event of kind feedback. */
export interface FeedbackEvent extends Common {
  kind?: 'feedback';
  /** The idempotency key; the client makes a ULID when absent so that retries are recognised. */
  feedback_id?: string;
  sentiment: Sentiment;
  score?: number;
  reason?: TaxonomyTag | (string & {});
  tags?: (TaxonomyTag | (string & {}))[];
  severity?: Severity;
  /** At most 4 KiB (UTF-8) after redaction. */
  comment?: string;
  source?: Source;
  edit?: Edit;
}

/** The snapshot of one model answer: an event of kind interaction. */
export interface InteractionEvent extends Common {
  kind?: 'interaction';
}

/** One problem feedbackd found, naming the event (its index in the request) and the field. */
export interface FieldError {
  index: number;
  field: string;
  message: string;
}
