/**
 * The clauses after the account list of CREATE USER, ALTER USER and GRANT,
 * none of which changes authentication. The vocabulary is closed: any other
 * word is not understood, so nothing new can slip through as "harmless".
 * Order is not checked (the server rejects a wrong order; we only need to
 * know that no clause changes authentication).
 *
 * @see https://mariadb.com/kb/en/create-user/
 * @see https://mariadb.com/kb/en/grant/
 * @see https://dev.mysql.com/doc/refman/8.0/en/create-user.html
 * @see https://dev.mysql.com/doc/refman/8.0/en/grant.html
 */
import { accountRef } from './accounts.js';
import { adjacent, Cursor, NotUnderstood } from './cursor.js';
import type { TlsRequirement } from './types.js';

/** Which statement's clauses are allowed. */
export type ClauseContext = 'create' | 'alter' | 'grant';

const DOT = 0x2e;
const COMMA = 0x2c;
const RESOURCES = new Set([
  'MAX_QUERIES_PER_HOUR', 'MAX_UPDATES_PER_HOUR', 'MAX_CONNECTIONS_PER_HOUR', 'MAX_USER_CONNECTIONS', 'MAX_STATEMENT_TIME',
]);

/** A decimal number: digits, optionally '.' digits (MAX_STATEMENT_TIME 1.5). */
function number(c: Cursor): void {
  const first = c.peek();
  if (first === undefined || first.type !== 'word' || !/^[0-9]+$/.test(c.wordAt() as string)) {
    throw new NotUnderstood('expected a number');
  }
  c.next();
  const dot = c.peek();
  const frac = c.peek(1);
  if (dot?.type === 'punct' && dot.byte === DOT && frac?.type === 'word' && adjacent(first, dot) && adjacent(dot, frac)) {
    if (!/^[0-9]+$/.test(c.wordAt(1) as string)) throw new NotUnderstood('expected a number');
    c.seek(c.index + 2);
  }
}

/** REQUIRE NONE | tls_option [[AND] tls_option] ...: what it asks of the connections (undefined for NONE). */
function requireClause(c: Cursor): TlsRequirement | undefined {
  if (c.acceptWord('NONE')) return undefined;
  let asks: TlsRequirement = 'ssl';
  for (let first = true; ; first = false) {
    if (!first && !c.acceptWord('AND') && !isTlsOption(c)) return asks;
    if (c.acceptWord('SSL')) continue;
    if (c.acceptWord('X509')) {
      asks = 'client-certificate';
      continue;
    }
    if (c.acceptWord('CIPHER')) {
      c.expectString();
      continue;
    }
    // ISSUER and SUBJECT are about the client's certificate.
    if (c.acceptWord('ISSUER') || c.acceptWord('SUBJECT')) {
      asks = 'client-certificate';
      c.expectString();
      continue;
    }
    throw new NotUnderstood('REQUIRE form');
  }
}

function isTlsOption(c: Cursor): boolean {
  return ['SSL', 'X509', 'CIPHER', 'ISSUER', 'SUBJECT'].some((w) => c.isWord(w));
}

/** WITH resource_option... | WITH GRANT OPTION | WITH ADMIN OPTION (GRANT). */
function withClause(c: Cursor, context: ClauseContext): void {
  let any = false;
  for (;;) {
    const word = c.wordAt();
    if (word !== undefined && RESOURCES.has(word)) {
      c.next();
      number(c);
    } else if (context === 'grant' && (word === 'GRANT' || word === 'ADMIN') && c.isWord('OPTION', 1)) {
      c.seek(c.index + 2);
    } else break;
    any = true;
  }
  if (!any) throw new NotUnderstood('WITH form');
}

/** PASSWORD EXPIRE ... | HISTORY ... | REUSE INTERVAL ... | REQUIRE CURRENT ... (the PASSWORD already read). */
function passwordOption(c: Cursor): void {
  if (c.acceptWord('EXPIRE')) {
    if (c.acceptWord('DEFAULT') || c.acceptWord('NEVER')) return;
    if (c.acceptWord('INTERVAL')) {
      number(c);
      c.expectWord('DAY');
    }
    return;
  }
  if (c.acceptWord('HISTORY')) {
    if (!c.acceptWord('DEFAULT')) number(c);
    return;
  }
  if (c.acceptWord('REUSE')) {
    c.expectWord('INTERVAL');
    if (c.acceptWord('DEFAULT')) return;
    number(c);
    c.expectWord('DAY');
    return;
  }
  if (c.acceptWord('REQUIRE')) {
    c.expectWord('CURRENT');
    if (!c.acceptWord('DEFAULT')) c.acceptWord('OPTIONAL');
    return;
  }
  throw new NotUnderstood('PASSWORD option form');
}

/** A list of roles (accounts in form), or NONE / ALL. */
function roleList(c: Cursor, allowExcept: boolean): void {
  if (c.acceptWord('NONE') || c.acceptWord('DEFAULT')) return;
  if (c.acceptWord('ALL')) {
    if (!allowExcept || !c.acceptWord('EXCEPT')) return;
  }
  do accountRef(c);
  while (c.acceptPunct(COMMA));
}

/** What the clauses read so far ask of connections (the last REQUIRE wins, as on the server). */
interface ClauseFindings {
  tls: TlsRequirement | undefined;
}

/** One clause; false when the word at the cursor starts none. */
function clause(c: Cursor, context: ClauseContext, found: ClauseFindings): boolean {
  const word = c.wordAt();
  switch (word) {
    case 'REQUIRE':
      c.next();
      found.tls = requireClause(c);
      return true;
    case 'WITH':
      c.next();
      withClause(c, context);
      return true;
    case 'PASSWORD':
      if (context === 'grant') return false;
      c.next();
      passwordOption(c);
      return true;
    case 'FAILED_LOGIN_ATTEMPTS':
    case 'PASSWORD_LOCK_TIME':
      if (context === 'grant') return false;
      c.next();
      if (!(word === 'PASSWORD_LOCK_TIME' && c.acceptWord('UNBOUNDED'))) number(c);
      return true;
    case 'ACCOUNT':
      if (context === 'grant') return false;
      c.next();
      if (!c.acceptWord('LOCK')) c.expectWord('UNLOCK');
      return true;
    case 'COMMENT':
    case 'ATTRIBUTE':
      if (context === 'grant') return false;
      c.next();
      c.expectString();
      return true;
    case 'DEFAULT':
      if (context === 'grant' || !c.isWord('ROLE', 1)) return false;
      c.seek(c.index + 2);
      roleList(c, false);
      return true;
    case 'AS':
      return context === 'grant' && grantAs(c);
    default:
      return false;
  }
}

/** MySQL 8: GRANT ... AS user [WITH ROLE ...]. */
function grantAs(c: Cursor): boolean {
  c.next();
  accountRef(c);
  if (c.isWord('WITH') && c.isWord('ROLE', 1)) {
    c.seek(c.index + 2);
    roleList(c, true);
  }
  return true;
}

/**
 * Reads the clauses up to the end of the statement.
 *
 * @example trailingClauses(cursor, 'alter') // after "ALTER USER a": REQUIRE SSL WITH MAX_USER_CONNECTIONS 5
 */
export function trailingClauses(c: Cursor, context: ClauseContext): { tlsRequirement?: TlsRequirement } {
  const found: ClauseFindings = { tls: undefined };
  while (!c.atEnd()) {
    if (!clause(c, context, found)) throw new NotUnderstood('unexpected clause after the accounts');
  }
  return found.tls === undefined ? {} : { tlsRequirement: found.tls };
}
