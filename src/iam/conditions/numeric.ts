/** Numeric operators. Both sides must read as finite decimal numbers. */
import { partsToText } from '../variables.js';
import { defineOperator, type Comparator, type ConditionOperator } from './types.js';

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** Reads a decimal number; anything else (hex, blanks, NaN) is unreadable. */
export function readNumber(text: string): number | undefined {
  const t = text.trim();
  if (!NUMBER.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

function numeric(test: (c: number, p: number) => boolean): Comparator {
  return (c, p) => {
    const a = readNumber(c);
    const b = readNumber(partsToText(p));
    return a === undefined || b === undefined ? undefined : test(a, b);
  };
}

const eq = numeric((a, b) => a === b);

export const numericOperators: readonly ConditionOperator[] = [
  defineOperator('NumericEquals', 'Numeric', eq),
  defineOperator('NumericNotEquals', 'Numeric', eq, true),
  defineOperator('NumericLessThan', 'Numeric', numeric((a, b) => a < b)),
  defineOperator('NumericLessThanEquals', 'Numeric', numeric((a, b) => a <= b)),
  defineOperator('NumericGreaterThan', 'Numeric', numeric((a, b) => a > b)),
  defineOperator('NumericGreaterThanEquals', 'Numeric', numeric((a, b) => a >= b)),
];
