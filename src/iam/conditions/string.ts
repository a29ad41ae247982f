/** String operators: exact, case-insensitive and `*`/`?` wildcard comparisons. */
import { compileParts, matchPattern } from '../match.js';
import { partsToText } from '../variables.js';
import { defineOperator, type Comparator, type ConditionOperator } from './types.js';

const equals: Comparator = (c, p) => c === partsToText(p);
// AWS folds case for the IgnoreCase pair; lower-casing both sides is the documented effect.
const equalsIgnoreCase: Comparator = (c, p) => c.toLowerCase() === partsToText(p).toLowerCase();
const like: Comparator = (c, p) => matchPattern(compileParts(p), c);

export const stringOperators: readonly ConditionOperator[] = [
  defineOperator('StringEquals', 'String', equals),
  defineOperator('StringNotEquals', 'String', equals, true),
  defineOperator('StringEqualsIgnoreCase', 'String', equalsIgnoreCase),
  defineOperator('StringNotEqualsIgnoreCase', 'String', equalsIgnoreCase, true),
  defineOperator('StringLike', 'String', like),
  defineOperator('StringNotLike', 'String', like, true),
];
