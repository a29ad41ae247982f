/**
 * Date operators. Values are ISO 8601 (date, or date-time with optional
 * fraction and zone) or epoch seconds; both sides become milliseconds.
 */
import { partsToText } from '../variables.js';
import { defineOperator, type Comparator, type ConditionOperator } from './types.js';

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const EPOCH = /^-?\d{1,12}(\.\d+)?$/;

/** Milliseconds since the epoch, or `undefined` when the text is not a date. */
export function readDate(text: string): number | undefined {
  const t = text.trim();
  if (EPOCH.test(t)) return Number(t) * 1000;
  if (!ISO.test(t)) return undefined;
  // A date-time without a zone is read as UTC (AWS's request times are UTC).
  const withZone = /T/.test(t) && !/(Z|[+-]\d{2}:?\d{2})$/.test(t) ? `${t}Z` : t;
  const ms = Date.parse(withZone.replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return Number.isNaN(ms) ? undefined : ms;
}

function date(test: (c: number, p: number) => boolean): Comparator {
  return (c, p) => {
    const a = readDate(c);
    const b = readDate(partsToText(p));
    return a === undefined || b === undefined ? undefined : test(a, b);
  };
}

const eq = date((a, b) => a === b);

export const dateOperators: readonly ConditionOperator[] = [
  defineOperator('DateEquals', 'Date', eq),
  defineOperator('DateNotEquals', 'Date', eq, true),
  defineOperator('DateLessThan', 'Date', date((a, b) => a < b)),
  defineOperator('DateLessThanEquals', 'Date', date((a, b) => a <= b)),
  defineOperator('DateGreaterThan', 'Date', date((a, b) => a > b)),
  defineOperator('DateGreaterThanEquals', 'Date', date((a, b) => a >= b)),
];
