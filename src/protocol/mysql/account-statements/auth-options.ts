/**
 * The authentication clause that may follow an account in CREATE USER,
 * ALTER USER and (MariaDB) GRANT, in both engines' forms:
 *
 * - MariaDB: IDENTIFIED BY 'x' | BY PASSWORD 'hash'
 *   | {VIA|WITH} plugin [{USING|AS} {'x' | PASSWORD('x')}] [OR plugin ...]
 * - MySQL 8: IDENTIFIED BY {'x' | RANDOM PASSWORD} | WITH plugin [BY {'x' | RANDOM PASSWORD} | AS 'x'],
 *   then [REPLACE 'current'] [RETAIN CURRENT PASSWORD], [AND IDENTIFIED ...] (2nd/3rd
 *   factor, CREATE), [INITIAL AUTHENTICATION IDENTIFIED ...] (CREATE), and for ALTER:
 *   DISCARD OLD PASSWORD, ADD/MODIFY n FACTOR IDENTIFIED ..., DROP n FACTOR,
 *   n FACTOR {INITIATE REGISTRATION | FINISH REGISTRATION SET CHALLENGE_RESPONSE AS 'x' | UNREGISTER}.
 *
 * `IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'` is the IAM form; any
 * other use of that plugin is not understood.
 *
 * @see https://mariadb.com/kb/en/create-user/
 * @see https://dev.mysql.com/doc/refman/8.0/en/create-user.html
 * @see https://dev.mysql.com/doc/refman/8.0/en/alter-user.html
 */
import { Cursor, NotUnderstood } from './cursor.js';
import type { AuthChange, ByteSpan } from './types.js';

/** What an account's clause says. */
export type AuthSpec =
  | { readonly kind: 'none' }
  | { readonly kind: 'iam'; readonly clause: ByteSpan }
  | { readonly kind: 'change'; readonly change: AuthChange; readonly plugin?: string; readonly retains: boolean };

/** Which statement the clause belongs to (each engine allows different forms in each). */
export type AuthContext = 'create' | 'alter' | 'grant';

const AWS_PLUGIN = 'awsauthenticationplugin';
const OPEN = 0x28;
const CLOSE = 0x29;

function pluginName(c: Cursor): string {
  const tok = c.peek();
  if (tok === undefined || tok.type === 'punct') throw new NotUnderstood('expected a plugin name');
  c.next();
  const name = c.text.text(tok);
  if (name === undefined) throw new NotUnderstood('account statement is not valid UTF-8');
  return name.toLowerCase();
}

/** 'x' or PASSWORD('x') after USING/AS. */
function authString(c: Cursor): void {
  if (c.isString()) {
    c.next();
    return;
  }
  if (c.isWord('PASSWORD') && c.isPunct(OPEN, 1) && c.isString(2) && c.isPunct(CLOSE, 3)) {
    c.seek(c.index + 4);
    return;
  }
  throw new NotUnderstood('expected an authentication string');
}

/** BY 'x' | BY RANDOM PASSWORD | BY PASSWORD 'hash' (the BY already read); true for RANDOM. */
function byClause(c: Cursor, allowHash: boolean): boolean {
  if (c.acceptWord('RANDOM')) {
    c.expectWord('PASSWORD');
    return true;
  }
  if (allowHash && c.acceptWord('PASSWORD')) {
    c.expectString();
    return false;
  }
  c.expectString();
  return false;
}

type Identified = { readonly kind: 'iam'; readonly end: number } | { readonly kind: 'change'; readonly change: AuthChange; readonly plugin?: string };

/** The part after IDENTIFIED (already read). */
function identified(c: Cursor): Identified {
  if (c.acceptWord('BY')) return { kind: 'change', change: byClause(c, true) ? 'random-password' : 'password' };
  const via = c.isWord('VIA');
  if (!via && !c.isWord('WITH')) throw new NotUnderstood('IDENTIFIED form');
  c.next();
  const plugin = pluginName(c);
  if (plugin === AWS_PLUGIN) {
    if (via) throw new NotUnderstood('IDENTIFIED VIA AWSAuthenticationPlugin');
    c.expectWord('AS');
    const as = c.peek();
    if (as === undefined || !c.isString() || c.text.text(as) !== 'RDS') {
      throw new NotUnderstood("AWSAuthenticationPlugin without AS 'RDS'");
    }
    c.next();
    return { kind: 'iam', end: as.end };
  }
  let change: AuthChange = 'plugin';
  if (c.acceptWord('BY')) change = byClause(c, false) ? 'random-password' : 'plugin';
  else if (c.acceptWord('AS') || c.acceptWord('USING')) authString(c);
  // MariaDB: further plugins a login may use instead.
  while (c.acceptWord('OR')) {
    if (pluginName(c) === AWS_PLUGIN) throw new NotUnderstood('AWSAuthenticationPlugin mixed with other plugins');
    if (c.acceptWord('AS') || c.acceptWord('USING')) authString(c);
  }
  return { kind: 'change', change, plugin };
}

/** MySQL 8: [REPLACE 'current'] [RETAIN CURRENT PASSWORD]; true when RETAIN is there. */
function replaceAndRetain(c: Cursor): boolean {
  if (c.acceptWord('REPLACE')) c.expectString();
  if (c.acceptWord('RETAIN')) {
    c.expectWord('CURRENT');
    c.expectWord('PASSWORD');
    return true;
  }
  return false;
}

/** '2 FACTOR' or '3 FACTOR'. */
function factor(c: Cursor): void {
  const n = c.wordAt();
  if (n !== '2' && n !== '3') throw new NotUnderstood('expected 2 FACTOR or 3 FACTOR');
  c.next();
  c.expectWord('FACTOR');
}

/** A factor's IDENTIFIED clause; the IAM plugin has no place there. */
function factorIdentified(c: Cursor): void {
  c.expectWord('IDENTIFIED');
  if (identified(c).kind === 'iam') throw new NotUnderstood('AWSAuthenticationPlugin as an extra factor');
}

/** MySQL 8 ALTER USER forms without IDENTIFIED that change authentication; undefined when none. */
function alterOnlyForms(c: Cursor): AuthChange | undefined {
  if (c.acceptWord('DISCARD')) {
    c.expectWord('OLD');
    c.expectWord('PASSWORD');
    return 'discard-old-password';
  }
  for (const verb of ['ADD', 'MODIFY', 'DROP']) {
    if (!c.isWord(verb) || !(c.isWord('2', 1) || c.isWord('3', 1))) continue;
    while (c.acceptWord(verb)) {
      factor(c);
      if (verb !== 'DROP') factorIdentified(c);
    }
    return 'multi-factor';
  }
  if ((c.isWord('2') || c.isWord('3')) && c.isWord('FACTOR', 1)) {
    factor(c);
    if (c.acceptWord('INITIATE')) c.expectWord('REGISTRATION');
    else if (c.acceptWord('FINISH')) {
      for (const w of ['REGISTRATION', 'SET', 'CHALLENGE_RESPONSE', 'AS']) c.expectWord(w);
      c.expectString();
    } else c.expectWord('UNREGISTER');
    return 'multi-factor';
  }
  return undefined;
}

/** MySQL 8 CREATE USER: AND IDENTIFIED ... (more factors) or INITIAL AUTHENTICATION IDENTIFIED ...; true when present. */
function createOnlyTail(c: Cursor): boolean {
  let any = false;
  while (c.isWord('AND') && c.isWord('IDENTIFIED', 1)) {
    c.next();
    factorIdentified(c);
    any = true;
  }
  if (c.acceptWord('INITIAL')) {
    c.expectWord('AUTHENTICATION');
    factorIdentified(c);
    any = true;
  }
  return any;
}

/**
 * Reads the authentication clause after an account, if any.
 *
 * @example authOption(cursor, 'create') // { kind: 'iam', clause } for IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'
 */
export function authOption(c: Cursor, context: AuthContext): AuthSpec {
  if (!c.isWord('IDENTIFIED')) {
    const change = context === 'alter' ? alterOnlyForms(c) : undefined;
    return change === undefined ? { kind: 'none' } : { kind: 'change', change, retains: false };
  }
  const start = c.next().start;
  const first = identified(c);
  if (first.kind === 'iam') {
    if (c.isWord('REPLACE') || c.isWord('RETAIN') || c.isWord('AND') || c.isWord('INITIAL') || c.isWord('OR')) {
      throw new NotUnderstood('AWSAuthenticationPlugin mixed with other authentication');
    }
    return { kind: 'iam', clause: { start, end: first.end } };
  }
  const retains = context === 'grant' ? false : replaceAndRetain(c);
  const more = context === 'create' && createOnlyTail(c);
  const plugin = first.plugin !== undefined ? { plugin: first.plugin } : {};
  return { kind: 'change', change: more ? 'multi-factor' : first.change, retains, ...plugin };
}
