// The client's event types against schema/event.schema.json, which is generated from pkg/feedback: every field the
// schema allows on feedback and interaction events is typed by the client (or listed below as one the client
// deliberately leaves out), every typed field is allowed, enums match, and what the client really sends validates.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020.js';
import ts from 'typescript';
import { Client } from '../dist/client.js';
import { repo, sdk } from './harness.mjs';

const schema = JSON.parse(fs.readFileSync(path.join(repo, 'schema', 'event.schema.json'), 'utf8'));

/**
 * Fields the schema allows on a kind that this client does not type, with the reason. A field the schema gains is in
 * neither the types nor this list, and fails the test until one of them says what the client does with it.
 */
const NOT_SENT = {
  interaction: {
    // The schema does not forbid these on an interaction, but they describe a person's reaction: the client sends
    // them on feedback only.
    reason: 'feedback only',
    tags: 'feedback only',
    severity: 'feedback only',
    comment: 'feedback only',
    source: 'feedback only',
    feedback_id: 'an interaction is keyed by correlation_id',
  },
  feedback: {},
};

/** Property paths (model.id, …) the schema allows on kind, with their subschemas. */
function schemaFields(kind) {
  const rule = schema.allOf.find((r) => r.if?.properties?.kind?.const === kind);
  assert.ok(rule, `the schema has no rule for kind ${kind}`);
  const forbidden = new Set(
    Object.entries(rule.then.properties ?? {})
      .filter(([, v]) => v === false)
      .map(([k]) => k)
  );
  const out = new Map();
  const walk = (props, prefix) => {
    for (const [name, sub] of Object.entries(props)) {
      if (!prefix && forbidden.has(name)) {
        continue;
      }
      out.set(prefix + name, sub);
      if (sub.properties) {
        walk(sub.properties, prefix + name + '.');
      }
    }
  };
  walk(schema.properties, '');
  return out;
}

/** Property paths of an interface in src/events.ts, with their string-literal unions (if that is what they are). */
let program;
function typedFields(name) {
  const file = path.join(sdk, 'src', 'events.ts');
  program ??= ts.createProgram([file], { strict: true, target: ts.ScriptTarget.ES2020, types: [] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const decl = source.statements.find((s) => ts.isInterfaceDeclaration(s) && s.name.text === name);
  assert.ok(decl, `src/events.ts has no interface ${name}`);
  const out = new Map();
  const walk = (type, prefix) => {
    for (const sym of checker.getPropertiesOfType(type)) {
      const t = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(sym, decl));
      const literals = t.isUnion()
        ? t.types.filter((u) => u.isStringLiteral()).map((u) => u.value)
        : t.isStringLiteral()
          ? [t.value]
          : [];
      out.set(prefix + sym.name, literals);
      const isPlainObject =
        t.flags & ts.TypeFlags.Object &&
        !checker.isArrayType(t) &&
        checker.getPropertiesOfType(t).length > 0 &&
        !checker.getIndexInfosOfType(t).length;
      if (isPlainObject) {
        walk(t, prefix + sym.name + '.');
      }
    }
  };
  walk(checker.getTypeAtLocation(decl.name), '');
  return out;
}

function enumOf(sub) {
  return sub.const !== undefined
    ? [sub.const]
    : (sub.enum ?? sub.anyOf?.find((a) => a.enum)?.enum ?? sub.items?.anyOf?.find((a) => a.enum)?.enum);
}

describe('event types against schema/event.schema.json', () => {
  for (const [kind, iface] of [
    ['feedback', 'FeedbackEvent'],
    ['interaction', 'InteractionEvent'],
  ]) {
    it(`${iface} types exactly what the schema allows on kind ${kind}`, () => {
      const allowed = schemaFields(kind);
      const typed = typedFields(iface);
      const untyped = [...allowed.keys()].filter((f) => !typed.has(f) && !(f in NOT_SENT[kind]));
      assert.deepEqual(untyped, [], `the schema allows these on ${kind} but the client does not type them`);
      const unknown = [...typed.keys()].filter((f) => !allowed.has(f));
      assert.deepEqual(unknown, [], `the client types these on ${kind} but the schema does not allow them`);
      const stale = Object.keys(NOT_SENT[kind]).filter((f) => !allowed.has(f) || typed.has(f));
      assert.deepEqual(stale, [], 'NOT_SENT lists fields that are typed or no longer in the schema');
      for (const [field, literals] of typed) {
        // The kind is the interface's own; every other enum is the schema's whole value set.
        const values = field === 'kind' ? [kind] : enumOf(allowed.get(field));
        if (values && literals.length) {
          assert.deepEqual(
            [...literals].sort(),
            [...values].sort(),
            `${iface}.${field} and the schema's values differ`
          );
        }
      }
    });
  }

  it('what the client sends validates against the schema', async () => {
    const sent = [];
    const server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        const body = JSON.parse(text);
        const events = Array.isArray(body) ? body : [body];
        sent.push(...events);
        res
          .writeHead(202, { 'content-type': 'application/json' })
          .end(JSON.stringify({ accepted: events.length, ids: events.map(() => 'x') }));
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const c = new Client({ endpoint: `http://127.0.0.1:${server.address().port}`, flushInterval: 3_600_000 });
    const model = { id: 'support-bot', version: '2026-11-18.3', released_at: '2026-11-18T09:00:00Z' };
    const all = [
      c.feedback({ correlation_id: 'c1', model, sentiment: 'positive', source: 'thumbs' }),
      c.feedback({
        correlation_id: 'c1',
        model,
        sentiment: 'negative',
        score: -1,
        reason: 'hallucination',
        tags: ['hallucination', 'refund_policy'],
        severity: 'warning',
        comment: 'Wrong refund window.',
        source: 'modal',
        user: { id: 'u-1', role: 'customer', geo: 'NO' },
        attributes: { domain: 'returns' },
        edit: { original_chars: 10, edited_chars: 12, similarity: 0.8 },
      }),
      c.interaction({
        correlation_id: 'c1',
        model,
        context: {
          system_prompt: 'Be brief.',
          input: 'Refund?',
          output: '5 days.',
          params: { temperature: 0.3, stop: '\n' },
          prompt_version: 'v3',
        },
        user: { id: 'u-1' },
      }),
    ];
    await c.flush();
    await Promise.all(all);
    server.close();
    const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);
    assert.equal(sent.length, 3);
    for (const e of sent) {
      assert.ok(validate(e), `${JSON.stringify(e)}: ${JSON.stringify(validate.errors)}`);
    }
    // And the schema is no rubber stamp: what the client refuses to type is refused by it too.
    assert.equal(validate({ ...sent[0], sentiment: 'angry' }), false);
    assert.equal(validate({ ...sent[2], verdict: 'confirmed' }), false);
  });
});
