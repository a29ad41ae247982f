/**
 * Parsers of the account statements and KILL, each reading one statement
 * from its first word to its end. They return a verdict without `rewrite`
 * (the classifier adds it) or throw NotUnderstood.
 *
 * @see https://mariadb.com/kb/en/account-management-sql-commands/
 * @see https://mariadb.com/kb/en/kill/
 * @see https://dev.mysql.com/doc/refman/8.0/en/account-management-statements.html
 */
import { accountRef, EffectList, MAX_ACCOUNTS_PER_STATEMENT } from './accounts.js';
import { authOption, type AuthSpec } from './auth-options.js';
import { Cursor, NotUnderstood } from './cursor.js';
import { trailingClauses } from './trailing-clauses.js';
import type { AccountRef, AccountVerdict, KillVerdict, SessionAccount } from './types.js';

const COMMA = 0x2c;
const EQUALS = 0x3d;
const COLON = 0x3a;
const OPEN = 0x28;
const CLOSE = 0x29;

function verdict(
  statement: AccountVerdict['statement'],
  effects: EffectList,
  flags: Partial<Pick<AccountVerdict, 'ifExists' | 'ifNotExists' | 'orReplace' | 'tlsRequirement'>> = {},
): AccountVerdict {
  return {
    kind: 'account',
    statement,
    effects: effects.items,
    ifExists: flags.ifExists ?? false,
    ifNotExists: flags.ifNotExists ?? false,
    orReplace: flags.orReplace ?? false,
    ...(flags.tlsRequirement !== undefined ? { tlsRequirement: flags.tlsRequirement } : {}),
  };
}

function acceptIfExists(c: Cursor): boolean {
  if (c.isWord('IF') && c.isWord('EXISTS', 1)) {
    c.seek(c.index + 2);
    return true;
  }
  return false;
}

/** CREATE [OR REPLACE] USER [IF NOT EXISTS] / ALTER USER [IF EXISTS]: the cursor is after USER. */
export function createOrAlterUser(c: Cursor, verb: 'create' | 'alter', orReplace: boolean): AccountVerdict {
  let ifNotExists = false;
  let ifExists = false;
  if (verb === 'create' && c.isWord('IF') && c.isWord('NOT', 1) && c.isWord('EXISTS', 2)) {
    c.seek(c.index + 3);
    ifNotExists = true;
  } else if (verb === 'alter') ifExists = acceptIfExists(c);
  const specs: { account: AccountRef; auth: AuthSpec }[] = [];
  do {
    if (specs.length >= MAX_ACCOUNTS_PER_STATEMENT) {
      throw new NotUnderstood(`at most ${MAX_ACCOUNTS_PER_STATEMENT} accounts per statement`);
    }
    specs.push({ account: accountRef(c), auth: authOption(c, verb) });
  } while (c.acceptPunct(COMMA));
  const clauses = trailingClauses(c, verb);
  const effects = new EffectList();
  const iam = specs.filter((s) => s.auth.kind === 'iam').length;
  if (iam > 0) {
    if (iam !== specs.length) throw new NotUnderstood('IAM and non-IAM accounts in one statement');
    if (orReplace) throw new NotUnderstood('AWSAuthenticationPlugin in CREATE OR REPLACE USER');
  }
  for (const { account, auth } of specs) {
    if (auth.kind === 'iam') {
      if (account.self) throw new NotUnderstood("AWSAuthenticationPlugin for the session's own account");
      effects.add({ action: 'becomes-iam', account, clause: auth.clause });
    } else if (auth.kind === 'change') {
      const plugin = auth.plugin !== undefined ? { plugin: auth.plugin } : {};
      effects.add({ action: 'changes-auth', account, change: auth.change, retainsCurrentPassword: auth.retains, ...plugin });
    } else if (verb === 'create') {
      effects.add({ action: 'changes-auth', account, change: 'no-password', retainsCurrentPassword: false });
    } else effects.add({ action: 'untouched', account });
  }
  return verdict(verb === 'create' ? 'CREATE USER' : 'ALTER USER', effects, { ifExists, ifNotExists, orReplace, ...clauses });
}

/** DROP USER [IF EXISTS] account, ...: the cursor is after USER. */
export function dropUser(c: Cursor): AccountVerdict {
  const ifExists = acceptIfExists(c);
  const effects = new EffectList();
  do effects.add({ action: 'dropped', account: accountRef(c) });
  while (c.acceptPunct(COMMA));
  c.requireEnd();
  return verdict('DROP USER', effects, { ifExists });
}

/** RENAME USER a TO b, ...: the cursor is after USER. */
export function renameUser(c: Cursor): AccountVerdict {
  const effects = new EffectList();
  do {
    const from = accountRef(c);
    c.expectWord('TO');
    const to = accountRef(c);
    if (to.self) throw new NotUnderstood('CURRENT_USER as the new name of an account');
    effects.add({ action: 'renamed', from, to });
  } while (c.acceptPunct(COMMA));
  c.requireEnd();
  return verdict('RENAME USER', effects);
}

/** '=' or ':=' (MariaDB's SET accepts both). */
export function acceptEquals(c: Cursor): boolean {
  if (c.acceptPunct(EQUALS)) return true;
  if (c.isPunct(COLON) && c.isPunct(EQUALS, 1)) {
    c.seek(c.index + 2);
    return true;
  }
  return false;
}

/**
 * SET PASSWORD [FOR account] {= {PASSWORD('x') | OLD_PASSWORD('x') | 'x'} | TO RANDOM}
 * [REPLACE 'current'] [RETAIN CURRENT PASSWORD]: the cursor is after PASSWORD.
 */
export function setPassword(c: Cursor): AccountVerdict {
  const omitted: SessionAccount = { self: true, spelling: 'omitted' };
  const account = c.acceptWord('FOR') ? accountRef(c) : omitted;
  let random = false;
  if (acceptEquals(c)) {
    if ((c.isWord('PASSWORD') || c.isWord('OLD_PASSWORD')) && c.isPunct(OPEN, 1)) {
      c.seek(c.index + 2);
      c.expectString();
      c.expectPunct(CLOSE);
    } else c.expectString();
  } else if (c.acceptWord('TO')) {
    c.expectWord('RANDOM');
    random = true;
  } else throw new NotUnderstood('SET PASSWORD form');
  if (c.acceptWord('REPLACE')) c.expectString();
  let retains = false;
  if (c.acceptWord('RETAIN')) {
    c.expectWord('CURRENT');
    c.expectWord('PASSWORD');
    retains = true;
  }
  if (c.isPunct(COMMA)) throw new NotUnderstood('SET PASSWORD combined with other assignments');
  c.requireEnd();
  const effects = new EffectList();
  effects.add({ action: 'changes-auth', account, change: random ? 'random-password' : 'password', retainsCurrentPassword: retains });
  return verdict('SET PASSWORD', effects);
}

/**
 * GRANT ... TO grantee [IDENTIFIED ...], ... [REQUIRE ...] [WITH ...] [AS ...]:
 * privileges, roles and PROXY are all granted TO the first top-level TO.
 * The cursor is after GRANT.
 */
export function grant(c: Cursor): AccountVerdict {
  const to = c.findWordAtDepthZero('TO');
  if (to === -1) throw new NotUnderstood('GRANT without TO');
  for (let j = c.index; j < to; j++) {
    if (c.isWord('IDENTIFIED', j - c.index)) throw new NotUnderstood('IDENTIFIED before TO in GRANT');
  }
  c.seek(to + 1);
  const effects = new EffectList();
  do {
    if (c.isWord('PUBLIC') && !c.isPunct(0x40, 1)) {
      c.next();
      if (c.isWord('IDENTIFIED')) throw new NotUnderstood('IDENTIFIED for PUBLIC');
      continue;
    }
    const account = accountRef(c);
    const auth = authOption(c, 'grant');
    if (auth.kind === 'iam') throw new NotUnderstood('AWSAuthenticationPlugin in GRANT');
    if (auth.kind === 'none') effects.add({ action: 'untouched', account });
    else {
      const plugin = auth.plugin !== undefined ? { plugin: auth.plugin } : {};
      effects.add({ action: 'changes-auth', account, change: auth.change, retainsCurrentPassword: false, ...plugin });
    }
  } while (c.acceptPunct(COMMA));
  const clauses = trailingClauses(c, 'grant');
  return verdict('GRANT', effects, clauses);
}

/**
 * KILL [HARD|SOFT] [CONNECTION|QUERY] <decimal number>. KILL QUERY ID, KILL
 * USER and any expression (MariaDB evaluates `KILL @id`, `KILL 1+1`) are not
 * understood: the gateway could not map them. The cursor is after KILL.
 */
export function kill(c: Cursor): KillVerdict {
  if (!c.acceptWord('HARD')) c.acceptWord('SOFT');
  let query = false;
  if (c.acceptWord('QUERY')) {
    query = true;
    if (c.isWord('ID')) throw new NotUnderstood('KILL QUERY ID');
  } else c.acceptWord('CONNECTION');
  if (c.isWord('USER')) throw new NotUnderstood('KILL USER');
  const digits = c.wordAt();
  if (digits === undefined || !/^[0-9]{1,16}$/.test(digits) || c.peek(1) !== undefined) {
    throw new NotUnderstood('KILL with an expression');
  }
  const connectionId = Number(digits);
  if (!Number.isSafeInteger(connectionId)) throw new NotUnderstood('KILL with an out-of-range id');
  return { kind: 'kill', connectionId, query };
}
