/**
 * Account names in statements: `name`, `'name'`, `"name"`, `` `name` ``,
 * each optionally followed by `@host` in the same forms with no space around
 * '@' (the servers refuse spaces there), and CURRENT_USER, CURRENT_USER()
 * and MySQL 8's USER() for the session's own account.
 *
 * @see https://mariadb.com/kb/en/create-user/#account-names
 * @see https://dev.mysql.com/doc/refman/8.0/en/account-names.html
 */
import type { AccountEffect, AccountRef, NamedAccount, SessionAccount } from './types.js';
import { adjacent, Cursor, NotUnderstood } from './cursor.js';
import type { Token } from './tokens.js';

/**
 * Most accounts one statement may name. Above it the verdict is 'unknown':
 * the gateway never creates or moves credentials for an unbounded list.
 */
export const MAX_ACCOUNTS_PER_STATEMENT = 32;

/** Words that cannot be an unquoted account name where the parsers expect one. */
const NOT_A_USER = new Set([
  'IDENTIFIED', 'REQUIRE', 'WITH', 'IF', 'CURRENT_USER', 'USER', 'PASSWORD', 'ACCOUNT', 'DEFAULT', 'TO', 'FOR',
  'COMMENT', 'ATTRIBUTE', 'CURRENT_ROLE', 'PUBLIC', 'NONE', 'AS', 'AND', 'OR', 'ON', 'BY', 'VIA',
]);

const AT = 0x40;
const DOT = 0x2e;
const COMMA = 0x2c;
const OPEN = 0x28;
const CLOSE = 0x29;

function self(spelling: SessionAccount['spelling']): SessionAccount {
  return { self: true, spelling };
}

function textOf(c: Cursor, tok: Token): string {
  const text = c.text.text(tok);
  if (text === undefined) throw new NotUnderstood('account statement is not valid UTF-8');
  return text;
}

/** The session's own account written as CURRENT_USER, CURRENT_USER() or USER(), or undefined. */
function sessionAccount(c: Cursor): SessionAccount | undefined {
  const word = c.wordAt();
  const call = c.isPunct(OPEN, 1) && c.isPunct(CLOSE, 2);
  if (word === 'CURRENT_USER') {
    c.seek(c.index + (call ? 3 : 1));
    return self(call ? 'CURRENT_USER()' : 'CURRENT_USER');
  }
  if (word === 'USER' && call) {
    c.seek(c.index + 3);
    return self('USER()');
  }
  return undefined;
}

/** An unquoted host: words joined by adjacent dots (db.example.com, 10.0.0.1). */
function unquotedHost(c: Cursor, first: Token): { host: string; last: Token } {
  let host = textOf(c, first);
  let last = first;
  for (;;) {
    const dot = c.peek();
    const part = c.peek(1);
    if (dot === undefined || part === undefined || dot.type !== 'punct' || dot.byte !== DOT) break;
    if (part.type !== 'word' || !adjacent(last, dot) || !adjacent(dot, part)) break;
    host += `.${textOf(c, part)}`;
    last = part;
    c.seek(c.index + 2);
  }
  return { host, last };
}

/** Reads one account reference at the cursor. */
export function accountRef(c: Cursor): AccountRef {
  const mine = sessionAccount(c);
  if (mine !== undefined) return mine;
  const userTok = c.peek();
  if (userTok === undefined || userTok.type === 'punct') throw new NotUnderstood('expected an account');
  if (userTok.type === 'word' && NOT_A_USER.has(c.wordAt() as string)) throw new NotUnderstood('expected an account');
  c.next();
  const user = textOf(c, userTok);
  if (c.isPunct(OPEN)) throw new NotUnderstood('function call where an account was expected');
  const following = c.peek();
  if (userTok.type === 'word' && following?.type === 'quoted' && adjacent(userTok, following)) {
    throw new NotUnderstood('character set introducer in an account name');
  }
  const at = c.peek();
  if (at === undefined || at.type !== 'punct' || at.byte !== AT) return named(user, '%');
  if (!adjacent(userTok, at)) throw new NotUnderstood("space before '@' in an account name");
  c.next();
  const first = c.peek();
  if (first === undefined || first.type === 'punct' || !adjacent(at, first)) throw new NotUnderstood('expected a host');
  c.next();
  const { host, last } = first.type === 'word' ? unquotedHost(c, first) : { host: textOf(c, first), last: first };
  const after = c.peek();
  if (after !== undefined && adjacent(last, after) && !(after.type === 'punct' && after.byte === COMMA)) {
    throw new NotUnderstood('odd host name');
  }
  return named(user, host);
}

/** The server stores and matches host names in lower case. */
function named(user: string, host: string): NamedAccount {
  return { self: false, user, host: host.toLowerCase() };
}

/** Effects of one statement, bounded by {@link MAX_ACCOUNTS_PER_STATEMENT}. */
export class EffectList {
  readonly items: AccountEffect[] = [];

  add(effect: AccountEffect): void {
    if (this.items.length >= MAX_ACCOUNTS_PER_STATEMENT) {
      throw new NotUnderstood(`at most ${MAX_ACCOUNTS_PER_STATEMENT} accounts per statement`);
    }
    this.items.push(effect);
  }
}
