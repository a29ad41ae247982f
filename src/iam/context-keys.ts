/**
 * The condition keys a request's evaluation needs and has no value for: the
 * policy simulator's MissingContextValues. A key counts when a statement
 * whose Action/NotAction covers the request's action uses it, as a
 * Condition key or as a policy variable without a default in Resource,
 * NotResource or a condition value (variables only in 2012-10-17
 * documents). Keys are reported once, as first written, in document order.
 */
import { ContextLookup } from './context.js';
import { actionListMatches } from './match.js';
import type { PolicyInput } from './evaluate.js';
import type { Statement } from './policy/types.js';

// `${key}` without a default; `${key, 'default'}` never needs a value, nor do the escapes.
const VARIABLE = /\$\{\s*([A-Za-z0-9:/_.+=,@-]+)\s*\}/g;

function variablesIn(values: readonly string[] | undefined, out: string[]): void {
  for (const v of values ?? []) for (const m of v.matchAll(VARIABLE)) out.push(m[1]!);
}

function coversAction(st: Statement, action: string): boolean {
  if (st.action) return actionListMatches(st.action, action);
  if (st.notAction) return !actionListMatches(st.notAction, action);
  return false;
}

/** Keys `statement` reads from the context, in the order written. */
export function contextKeysOf(st: Statement, expandVariables: boolean): string[] {
  const keys: string[] = [];
  if (expandVariables) {
    variablesIn(st.resource, keys);
    variablesIn(st.notResource, keys);
  }
  for (const c of st.conditions) {
    keys.push(c.key);
    if (expandVariables) variablesIn(c.values, keys);
  }
  return keys;
}

/**
 * The keys the policies need for `action` that `context` lacks.
 *
 * @example
 *   missingContextKeys([{ label: 'p', policy }], 's3:GetObject', new ContextLookup({}))
 *   // ['aws:username', 'aws:SourceIp']
 */
export function missingContextKeys(policies: readonly PolicyInput[], action: string, context: ContextLookup): string[] {
  const seen = new Set<string>();
  const missing: string[] = [];
  for (const p of policies) {
    const expand = p.policy.version === '2012-10-17';
    for (const st of p.policy.statements) {
      if (!coversAction(st, action)) continue;
      for (const key of contextKeysOf(st, expand)) {
        const lower = key.toLowerCase();
        if (seen.has(lower)) continue;
        seen.add(lower);
        if (context.get(key) === undefined) missing.push(key);
      }
    }
  }
  return missing;
}
