/**
 * `mysql.user` as RDS shows it: RDS users check their IAM accounts with
 * `SELECT user, host, plugin FROM mysql.user [WHERE plugin =
 * 'AWSAuthenticationPlugin']`. On the server an IAM account is a password
 * account holding the gateway's managed hash, so the gateway puts a derived
 * table in place of the `mysql.user` reference of such a statement: the same
 * columns in the same order, where a recorded IAM account has `plugin`
 * 'AWSAuthenticationPlugin', `authentication_string` 'RDS' and an empty
 * `Password` (MariaDB's view). WHERE, ORDER BY and joins then see what the
 * rows show. Pure: text in, text out.
 *
 * Only a plain shape is rewritten: one SELECT (a trailing `;` allowed), one
 * reference to `mysql.user`, after FROM, JOIN or a comma, never qualified
 * further (`mysql.user.plugin`), no comments, no double quotes and no
 * backslashes (whose meaning depends on the SQL mode). Anything else passes
 * unchanged: a read is not a security decision, and the server's truth is
 * what the master sees directly too (docs/architecture.md lists the rest).
 */
import type { Account } from './iam-users.js';

/** Where the one `mysql.user` reference is, and whether an alias follows it. */
interface TableReference {
  readonly start: number;
  readonly end: number;
  readonly aliased: boolean;
}

const REFERENCE = /(?:`mysql`|mysql)\s*\.\s*(?:`user`|user)/iy;
/** Words that may follow a table reference and are not an alias. */
const NOT_ALIAS = new Set(['where', 'order', 'group', 'limit', 'join', 'inner', 'left', 'right', 'cross', 'natural', 'straight_join', 'union', 'having', 'window', 'for', 'lock', 'into', 'procedure', 'on', 'using', 'use', 'ignore', 'force', 'partition', 'except', 'intersect']);

/** The `mysql.user` reference of a statement the gateway may rewrite, or undefined. */
export function userTableReference(sql: string): TableReference | undefined {
  if (!/^\s*SELECT\b/i.test(sql) || /\/\*|--|#|\\|"/.test(sql)) return undefined;
  const semicolon = sql.indexOf(';');
  if (semicolon !== -1 && sql.slice(semicolon + 1).trim() !== '') return undefined;
  let found: { start: number; end: number } | undefined;
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i]!;
    if (quote !== undefined) {
      if (ch === quote) quote = undefined; // a doubled quote closes and reopens: same state after both
      continue;
    }
    if (ch === "'") {
      quote = ch;
      continue;
    }
    if (ch === '`' && !/^`mysql`\s*\./i.test(sql.slice(i))) {
      quote = ch;
      continue;
    }
    if (i > 0 && /[\w$`.]/.test(sql[i - 1]!)) continue;
    REFERENCE.lastIndex = i;
    const m = REFERENCE.exec(sql);
    if (m === null || /[\w$]/.test(sql[i + m[0].length] ?? '')) continue; // mysql.users is another table
    if (found !== undefined) return undefined; // two references: leave it to the server
    found = { start: i, end: i + m[0].length };
    i = found.end - 1;
  }
  if (quote !== undefined || found === undefined) return undefined;
  const after = sql.slice(found.end);
  if (/^\s*\./.test(after)) return undefined; // mysql.user.plugin: a qualified column the view's alias cannot name
  if (!/(?:\bFROM|\bJOIN|,)\s*$/i.test(sql.slice(0, found.start))) return undefined;
  const next = /^\s*([A-Za-z_$][\w$]*|`)/.exec(after)?.[1];
  const aliased = next !== undefined && (next === '`' || !NOT_ALIAS.has(next.toLowerCase()));
  return { ...found, aliased };
}

/** A string literal that means the same under every SQL mode and connection character set. */
function literal(value: string): string {
  return `CONVERT(X'${Buffer.from(value, 'utf8').toString('hex')}' USING utf8mb4)`;
}

function identifier(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`';
}

/** The derived table standing for mysql.user: `columns` in the server's order, IAM accounts shown as RDS shows them. */
export function userTableView(columns: readonly string[], accounts: readonly Account[]): string {
  const iam = accounts.length === 0 ? 'FALSE' : `(\`User\`, \`Host\`) IN (${accounts.map((a) => `(${literal(a.user)}, ${literal(a.host)})`).join(', ')})`;
  const shown: Record<string, string> = { plugin: "'AWSAuthenticationPlugin'", authentication_string: "'RDS'", password: "''" };
  const list = columns.map((c) => {
    const as = shown[c.toLowerCase()];
    return as === undefined ? identifier(c) : `IF(${iam}, ${as}, ${identifier(c)}) AS ${identifier(c)}`;
  });
  return `(SELECT ${list.join(', ')} FROM mysql.user)`;
}

/** `sql` with its mysql.user reference replaced by the view, or undefined when it is not of the shape rewritten. */
export function rewriteUserTableQuery(sql: string, columns: readonly string[], accounts: readonly Account[]): string | undefined {
  const ref = userTableReference(sql);
  if (ref === undefined || columns.length === 0) return undefined;
  return sql.slice(0, ref.start) + userTableView(columns, accounts) + (ref.aliased ? '' : ' AS `user`') + sql.slice(ref.end);
}
