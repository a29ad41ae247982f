/**
 * The recognizer's previous API, kept only so that the current gateway
 * session compiles and keeps working until it moves to classifyStatement.
 * It maps the new verdicts onto the old kinds and is stricter than before:
 * whatever the old kinds cannot say (the session's own account, KILL, GRANT
 * with IDENTIFIED) is 'unknown'.
 *
 * @deprecated Use classifyStatement and needsClassification.
 */
import { classifyStatement } from './classify.js';
import type { Account, AccountRef, PasswordHashes, StatementVerdict } from './types.js';

/** What a statement does to accounts (previous API). */
export type AccountStatementKind =
  | 'create-iam-user'
  | 'alter-iam-user'
  | 'drop-user'
  | 'rename-user'
  | 'set-password-user'
  | 'other'
  | 'unknown';

/** The previous verdict shape. @deprecated Use StatementVerdict. */
export interface AccountStatement {
  readonly kind: AccountStatementKind;
  readonly accounts: readonly Account[];
  readonly renames?: readonly { readonly from: Account; readonly to: Account }[];
  readonly ifNotExists: boolean;
  readonly ifExists: boolean;
  readonly multiStatement: boolean;
  readonly reason?: string;
  readonly rewrite?: (hashes: PasswordHashes) => string;
}

const BASE = { accounts: [], ifNotExists: false, ifExists: false, multiStatement: false } as const;

function plain(ref: AccountRef): Account | undefined {
  return ref.self ? undefined : { user: ref.user, host: ref.host };
}

function fromVerdict(v: StatementVerdict): AccountStatement {
  if (v.kind === 'unknown') return { ...BASE, kind: 'unknown', reason: v.reason };
  if (v.kind !== 'account') return { ...BASE, kind: 'other' };
  const refs = v.effects.flatMap((e) => (e.action === 'renamed' ? [e.from, e.to] : [e.account]));
  if (refs.some((r) => r.self)) return { ...BASE, kind: 'unknown', reason: "the session's own account" };
  const flags = { ifExists: v.ifExists, ifNotExists: v.ifNotExists, multiStatement: false };
  const accounts = (list: readonly AccountRef[]): Account[] => list.map((r) => plain(r) as Account);
  const rewrite = v.rewrite;
  if (rewrite !== undefined) {
    const kind = v.statement === 'CREATE USER' ? 'create-iam-user' : 'alter-iam-user';
    return { ...flags, kind, accounts: accounts(refs), rewrite: (h) => rewrite(h).toString('utf8') };
  }
  if (v.statement === 'DROP USER') return { ...flags, kind: 'drop-user', accounts: accounts(refs) };
  if (v.statement === 'RENAME USER') {
    const renames = v.effects.flatMap((e) => (e.action === 'renamed' ? [{ from: plain(e.from) as Account, to: plain(e.to) as Account }] : []));
    return { ...flags, kind: 'rename-user', accounts: renames.map((r) => r.from), renames };
  }
  if (v.statement === 'GRANT') {
    if (v.effects.some((e) => e.action === 'changes-auth')) return { ...BASE, kind: 'unknown', reason: 'GRANT ... IDENTIFIED' };
    return { ...BASE, kind: 'other' };
  }
  const changed = v.effects.filter((e) => e.action === 'changes-auth');
  if (changed.length === 0) return { ...flags, kind: 'other', accounts: accounts(refs) };
  return { ...flags, kind: 'set-password-user', accounts: accounts(refs) };
}

/**
 * Classifies one COM_QUERY text with the previous API (backslash mode unknown).
 *
 * @deprecated Use classifyStatement.
 * @example recognizeAccountStatement("DROP USER a").kind === 'drop-user'
 */
export function recognizeAccountStatement(text: string | Uint8Array): AccountStatement {
  return fromVerdict(classifyStatement(text));
}
