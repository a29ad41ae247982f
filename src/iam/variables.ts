/**
 * Policy variables: `${aws:username}`, `${aws:PrincipalTag/team}`, the escapes
 * `${*}`, `${?}`, `${$}`, and defaults `${aws:username, 'nobody'}`.
 *
 * Expansion yields pattern parts, not a string, so a substituted value is
 * always literal: a user named `a*` never becomes a wildcard, and `${*}` is a
 * literal star even inside `…Like` patterns. Only documents with Version
 * 2012-10-17 expand variables; older ones keep `${…}` as plain text, as AWS does.
 */
import type { ContextLookup } from './context.js';
import { globParts, type PatternPart } from './match.js';

const ESCAPES: Readonly<Record<string, string>> = { '*': '*', '?': '?', $: '$' };
// key, then optionally `, 'default'` (AWS documents single quotes).
const VARIABLE = /^\s*([A-Za-z0-9:/_.+=,@-]+)\s*(?:,\s*'([^']*)'\s*)?$/;

/**
 * Expands a policy string. Returns `undefined` when a variable has no value
 * and no default: callers treat that as "cannot match".
 */
export function expandValue(raw: string, expand: boolean, ctx: ContextLookup): PatternPart[] | undefined {
  if (!expand || !raw.includes('${')) return globParts(raw);
  const parts: PatternPart[] = [];
  let i = 0;
  while (i < raw.length) {
    const start = raw.indexOf('${', i);
    if (start < 0) {
      parts.push(...globParts(raw.slice(i)));
      break;
    }
    const end = raw.indexOf('}', start + 2);
    if (end < 0) {
      parts.push(...globParts(raw.slice(i)));
      break;
    }
    if (start > i) parts.push(...globParts(raw.slice(i, start)));
    const body = raw.slice(start + 2, end);
    const escaped = ESCAPES[body];
    if (escaped !== undefined) {
      parts.push({ text: escaped });
    } else {
      const m = VARIABLE.exec(body);
      if (!m) {
        // Not a variable reference: keep the text as written.
        parts.push(...globParts(raw.slice(start, end + 1)));
      } else {
        const values = ctx.get(m[1]!);
        // Multi-valued keys cannot be used as variables; treat them as absent.
        const value = values !== undefined && values.length === 1 ? values[0] : undefined;
        const chosen = value ?? m[2];
        if (chosen === undefined) return undefined;
        parts.push({ text: chosen });
      }
    }
    i = end + 1;
  }
  return parts;
}

/** Joins parts back to plain text, wildcards as their characters (for exact-match operators). */
export function partsToText(parts: readonly PatternPart[]): string {
  let out = '';
  for (const p of parts) out += 'text' in p ? p.text : p.wildcard;
  return out;
}
