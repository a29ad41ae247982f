/**
 * Verdict values and helpers shared by the statement parsers: 'other' (plain
 * or reporting unread dynamic SQL), 'unknown', and the verdict on a
 * statement found inside another.
 */
import type { OtherVerdict, StatementVerdict, UnknownVerdict } from './types.js';

/** `{ kind: 'other' }`. */
export const OTHER: OtherVerdict = Object.freeze({ kind: 'other' });

/** 'other', running SQL the gateway cannot read. */
export const UNREAD_DYNAMIC_SQL: OtherVerdict = Object.freeze({ kind: 'other', unreadDynamicSql: true });

/** An 'unknown' verdict. */
export function unknown(reason: string): UnknownVerdict {
  return { kind: 'unknown', reason };
}

/**
 * The verdict on a statement found inside another (`what`: PREPARE, EXECUTE
 * IMMEDIATE, SET STATEMENT): account statements, KILL and character set
 * changes there are refused; unread dynamic SQL stays reported.
 */
export function insideVerdict(inner: StatementVerdict, what: string): StatementVerdict {
  switch (inner.kind) {
    case 'other':
      if (inner.clientCharset !== undefined) return unknown(`character set change inside ${what}`);
      return inner.unreadDynamicSql === true ? UNREAD_DYNAMIC_SQL : OTHER;
    case 'kill':
      return unknown(`KILL inside ${what}`);
    case 'account':
      return unknown(`account statement inside ${what}`);
    default:
      return unknown(`inside ${what}: ${inner.reason}`);
  }
}
