/**
 * The shape shared by condition operators. Each family file defines small
 * operator objects; `index.ts` gathers them in one table and adds the rules
 * that are the same for every family (IfExists, absent keys, set operators).
 */
import type { PatternPart } from '../match.js';

export type OperatorFamily = 'String' | 'Numeric' | 'Date' | 'Bool' | 'Binary' | 'IpAddress' | 'Arn' | 'Null';

/** The outcome of one operator on one context value, with a reason for people. */
export interface OperatorResult {
  readonly match: boolean;
  readonly explanation: string;
}

/** One base condition operator (no IfExists, no ForAnyValue/ForAllValues). */
export interface ConditionOperator {
  readonly name: string;
  readonly family: OperatorFamily;
  /** Negated operators hold when no policy value matches; they also hold for absent keys. */
  readonly negated: boolean;
  /**
   * Does one context value match any of the policy values? Policy values are
   * already expanded; `undefined` entries are unresolved variables, which
   * never match and make a negated operator fail closed.
   */
  evaluate(contextValue: string, policyValues: readonly (readonly PatternPart[] | undefined)[]): OperatorResult;
}

/**
 * Compares one context value with one policy value: true/false, or
 * `undefined` when either cannot be read as the family's type (which never
 * matches and makes negated operators fail closed).
 */
export type Comparator = (contextValue: string, policyValue: readonly PatternPart[]) => boolean | undefined;

/** Builds an operator from a comparator, positive or negated. */
export function defineOperator(name: string, family: OperatorFamily, compare: Comparator, negated = false): ConditionOperator {
  return {
    name,
    family,
    negated,
    evaluate(contextValue, policyValues) {
      let anyMatch = false;
      let unreadable = false;
      for (const pv of policyValues) {
        if (pv === undefined) {
          unreadable = true;
          continue;
        }
        const r = compare(contextValue, pv);
        if (r === undefined) unreadable = true;
        else if (r) anyMatch = true;
      }
      if (!negated) {
        return {
          match: anyMatch,
          explanation: anyMatch
            ? `${name}: ${JSON.stringify(contextValue)} matches a policy value`
            : `${name}: ${JSON.stringify(contextValue)} matches no policy value`,
        };
      }
      if (anyMatch) return { match: false, explanation: `${name}: ${JSON.stringify(contextValue)} matches a listed value` };
      if (unreadable) {
        return { match: false, explanation: `${name}: a value could not be read or resolved, failing closed` };
      }
      return { match: true, explanation: `${name}: ${JSON.stringify(contextValue)} matches no listed value` };
    },
  };
}
