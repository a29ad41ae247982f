/** Bool: `true`/`false`, compared case-insensitively. Other text never matches. */
import { partsToText } from '../variables.js';
import { defineOperator, type ConditionOperator } from './types.js';

function readBool(text: string): boolean | undefined {
  const t = text.trim().toLowerCase();
  return t === 'true' ? true : t === 'false' ? false : undefined;
}

export const boolOperators: readonly ConditionOperator[] = [
  defineOperator('Bool', 'Bool', (c, p) => {
    const a = readBool(c);
    const b = readBool(partsToText(p));
    return a === undefined || b === undefined ? undefined : a === b;
  }),
];
