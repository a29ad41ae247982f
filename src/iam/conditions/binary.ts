/** BinaryEquals: policy values are base64; the context value is base64 too (or bytes, see context.ts). */
import { partsToText } from '../variables.js';
import { defineOperator, type ConditionOperator } from './types.js';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function readBase64(text: string): Buffer | undefined {
  const t = text.trim();
  if (t.length % 4 !== 0 || !BASE64.test(t)) return undefined;
  return Buffer.from(t, 'base64');
}

export const binaryOperators: readonly ConditionOperator[] = [
  defineOperator('BinaryEquals', 'Binary', (c, p) => {
    const a = readBase64(c);
    const b = readBase64(partsToText(p));
    return a === undefined || b === undefined ? undefined : a.equals(b);
  }),
];
