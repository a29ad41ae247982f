/**
 * ARN operators. Both ARNs are cut into their six `:` parts (the sixth keeps
 * any further colons) and each part is matched on its own, case-sensitively,
 * with `*`/`?` wildcards; so `*` never spans a colon between parts. AWS
 * documents ArnEquals and ArnLike as the same comparison.
 */
import { compileParts, globParts, matchPattern, type PatternPart } from '../match.js';
import { defineOperator, type Comparator, type ConditionOperator } from './types.js';

/** Splits an ARN into its six parts, or `undefined` when it has fewer. */
export function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/** Splits pattern parts at literal colons, keeping wildcards; the sixth piece keeps the rest. */
function splitPatternParts(parts: readonly PatternPart[]): PatternPart[][] {
  const pieces: PatternPart[][] = [[]];
  for (const part of parts) {
    if ('text' in part && pieces.length < 6) {
      const chunks = part.text.split(':');
      chunks.forEach((chunk, i) => {
        if (i > 0) {
          if (pieces.length < 6) pieces.push([]);
          else pieces[5]!.push({ text: ':' });
        }
        if (chunk) pieces[pieces.length - 1]!.push({ text: chunk });
      });
    } else {
      pieces[pieces.length - 1]!.push(part);
    }
  }
  return pieces;
}

/**
 * Part-wise ARN match. A pattern with fewer than six parts matches nothing,
 * except a lone `*` (the Resource wildcard), so a star never spans a colon.
 */
export function arnMatches(pattern: readonly PatternPart[], arn: string): boolean {
  const pieces = splitPatternParts(pattern);
  if (pieces.length < 6) {
    const only = pattern.length === 1 ? pattern[0] : undefined;
    return only !== undefined && 'wildcard' in only && only.wildcard === '*';
  }
  const target = splitArn(arn);
  if (target === undefined) return false;
  return pieces.every((piece, i) => matchPattern(compileParts(piece), target[i]!));
}

const like: Comparator = (c, p) => arnMatches(p, c);

export const arnOperators: readonly ConditionOperator[] = [
  defineOperator('ArnEquals', 'Arn', like),
  defineOperator('ArnLike', 'Arn', like),
  defineOperator('ArnNotEquals', 'Arn', like, true),
  defineOperator('ArnNotLike', 'Arn', like, true),
];

/** Exposed for Resource matching, which uses the same part-wise rule. */
export function resourceGlobMatches(pattern: string, resource: string): boolean {
  return arnMatches(globParts(pattern), resource);
}
