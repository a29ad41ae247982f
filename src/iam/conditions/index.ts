/**
 * The condition operator table and the rules shared by every family:
 * `…IfExists`, absent keys, `ForAnyValue:` / `ForAllValues:` and `Null`.
 *
 * Values within one key are ORed (inside each operator); keys within one
 * operator and operators within one block are ANDed (in `evaluateConditions`).
 */
import type { ContextLookup } from '../context.js';
import type { ConditionEntry } from '../policy/types.js';
import { expandValue } from '../variables.js';
import { arnOperators } from './arn.js';
import { binaryOperators } from './binary.js';
import { boolOperators } from './bool.js';
import { dateOperators } from './date.js';
import { ipOperators } from './ip.js';
import { numericOperators } from './numeric.js';
import { stringOperators } from './string.js';
import type { ConditionOperator, OperatorResult } from './types.js';

export type { ConditionOperator, OperatorFamily, OperatorResult } from './types.js';

/** Every base operator by name (case-sensitive, as written in AWS's grammar). */
export const conditionOperators: ReadonlyMap<string, ConditionOperator> = new Map(
  [...stringOperators, ...numericOperators, ...dateOperators, ...boolOperators, ...binaryOperators, ...ipOperators, ...arnOperators].map(
    (op) => [op.name, op],
  ),
);

export type SetQualifier = 'ForAnyValue' | 'ForAllValues';

/** An operator name taken apart: `ForAllValues:StringLikeIfExists`. */
export interface OperatorName {
  readonly qualifier?: SetQualifier;
  /** Base name (`StringLike`), or `Null`. */
  readonly base: string;
  readonly ifExists: boolean;
}

/** Reads an operator name; `undefined` when it is not one AWS defines. */
export function parseOperatorName(name: string): OperatorName | undefined {
  let rest = name;
  let qualifier: SetQualifier | undefined;
  for (const q of ['ForAnyValue', 'ForAllValues'] as const) {
    if (rest.startsWith(`${q}:`)) {
      qualifier = q;
      rest = rest.slice(q.length + 1);
      break;
    }
  }
  if (rest === 'Null') return qualifier ? undefined : { base: 'Null', ifExists: false };
  const ifExists = rest.endsWith('IfExists');
  const base = ifExists ? rest.slice(0, -'IfExists'.length) : rest;
  if (!conditionOperators.has(base)) return undefined;
  return qualifier ? { qualifier, base, ifExists } : { base, ifExists };
}

/** The result of one `operator -> key -> values` entry. */
export interface ConditionResult extends OperatorResult {
  readonly operator: string;
  readonly key: string;
  /** Set when the operator is unknown; the caller decides what failing closed means for the statement. */
  readonly unknownOperator?: true;
}

/**
 * Evaluates one condition entry against the request context.
 * Unknown operators never match: a document that slipped past validation
 * fails closed rather than granting.
 */
export function evaluateCondition(entry: ConditionEntry, ctx: ContextLookup, expandVariables: boolean): ConditionResult {
  const done = (match: boolean, explanation: string): ConditionResult => ({
    operator: entry.operator,
    key: entry.key,
    match,
    explanation,
  });
  const name = parseOperatorName(entry.operator);
  if (name === undefined) {
    return { ...done(false, `unknown condition operator ${entry.operator}: fails closed`), unknownOperator: true };
  }

  const values = ctx.get(entry.key);
  const present = values !== undefined && values.length > 0;

  if (name.base === 'Null') {
    // Null tests presence: "true" means the key must be absent (or an empty set).
    const hit = entry.values.some((v) => (v.toLowerCase() === 'true' ? !present : v.toLowerCase() === 'false' ? present : false));
    return done(hit, `Null ${entry.key}: key is ${present ? 'present' : 'absent'}`);
  }

  const op = conditionOperators.get(name.base)!;
  if (!present) {
    // A present but empty set behaves as absent for every rule here.
    if (name.ifExists) return done(true, `${entry.key} is absent: …IfExists holds`);
    if (name.qualifier === 'ForAllValues') return done(true, `${entry.key} has no values: ForAllValues holds`);
    if (name.qualifier === 'ForAnyValue') return done(false, `${entry.key} has no values: ForAnyValue fails`);
    return op.negated
      ? done(true, `${entry.key} is absent: negated operator ${op.name} holds`)
      : done(false, `${entry.key} is absent: ${op.name} fails`);
  }

  const policyValues = entry.values.map((v) => expandValue(v, expandVariables, ctx));
  const results = values.map((v) => op.evaluate(v, policyValues));
  const any = results.some((r) => r.match);
  const all = results.every((r) => r.match);
  // Without a set qualifier a multi-valued key is read the natural way:
  // positive operators need one matching value, negated ones need all to pass.
  const useAll = name.qualifier === 'ForAllValues' || (name.qualifier === undefined && op.negated);
  const match = useAll ? all : any;
  const prefix = name.qualifier ? `${name.qualifier}:` : '';
  const detail = results.map((r) => r.explanation).join('; ');
  return done(match, `${prefix}${op.name} ${entry.key}: ${detail}`);
}
