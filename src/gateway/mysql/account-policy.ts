/**
 * What the MySQL gateway does with a statement the recognizer has read:
 * pass it on, refuse it, rewrite it (an account becomes an IAM user), or
 * pass it on and change its IAM records once the server has accepted it.
 * Pure: the verdict, who the session is and which accounts are IAM users
 * in, a decision out.
 *
 * The rules (docs/security.md):
 * - Only an account administrator (the master, or a user listed in the
 *   instance's `accountAdmins`) may change the authentication of an IAM
 *   account, drop it or rename it: anyone else gets an error for the whole
 *   statement, whatever the server would have allowed. An IAM user cannot
 *   leave IAM on her own.
 * - The master never becomes an IAM user.
 * - A statement that may be account management but cannot be fully read is
 *   refused, as is account management inside a prepared statement.
 * - A TLS requirement the gateway cannot meet for an IAM account (REQUIRE
 *   X509/ISSUER/SUBJECT; REQUIRE SSL while its link to the server is in
 *   clear) is refused, or every IAM login of the account would fail.
 * - Records change only after the server accepted a statement the gateway
 *   read. Dynamic SQL the gateway cannot see (PREPARE FROM @var) changes
 *   no record: an IAM account stays one, and its credential is reinstalled
 *   at its next login if the server no longer takes it.
 */
import { isAsciiTransparentCharset, type Account, type AccountEffect, type AccountRef, type AccountVerdict, type StatementVerdict } from '../../protocol/mysql/index.js';

/** Who the session is, as far as account rules go. */
export interface SessionRole {
  /** The database user the session logged in as. */
  readonly user: string;
  /** The instance's master user name. */
  readonly master: string;
  /** The instance's extra account administrators. */
  readonly accountAdmins: readonly string[];
}

/** Which accounts are IAM users on this instance. */
export interface IamRecords {
  /** The recorded IAM account the server would take `account` for (as recorded), if any. */
  find(account: Account): Account | undefined;
  accountsOf(user: string): readonly Account[];
}

/** A change to the IAM records, applied once the server has accepted the statement. */
export type RecordChange =
  | { readonly kind: 'add'; readonly account: Account }
  | { readonly kind: 'remove'; readonly account: Account }
  | { readonly kind: 'rename'; readonly from: Account; readonly to: Account };

/** Reason codes of refusals (audit `db.account` events). */
export type RefusalReason =
  | 'StatementNotUnderstood'
  | 'IamAccountProtected'
  | 'MasterNotIamUser'
  | 'MasterProtected'
  | 'PreparedAccountStatement'
  | 'UnreadDynamicSql'
  | 'UnsafeCharset'
  | 'ServerLinkInClear'
  | 'ClientCertificateRequired';

/** What the session's own link to the server is like. */
export interface ServerLinkFacts {
  /** The gateway's link to the server is TLS (what an IAM account's REQUIRE SSL needs). */
  readonly tls: boolean;
}

export type AccountDecision =
  | { readonly action: 'forward' }
  | { readonly action: 'refuse'; readonly reason: RefusalReason; readonly errno: 'ER_SPECIFIC_ACCESS_DENIED_ERROR' | 'ER_NOT_SUPPORTED_YET'; readonly message: string }
  /** Accounts become IAM users: rewrite with the credentials' hashes, then record what the server really holds. */
  | { readonly action: 'make-iam'; readonly verdict: AccountVerdict; readonly accounts: readonly Account[] }
  /** Pass on; on OK apply `changes` (possibly none: the statement touches no IAM account). */
  | { readonly action: 'track'; readonly verdict: AccountVerdict; readonly changes: readonly RecordChange[] }
  | { readonly action: 'kill'; readonly connectionId: number; readonly query: boolean };

const FORWARD: AccountDecision = { action: 'forward' };

/**
 * A statement that manages no account may still blind the gateway: a client
 * character set whose multi-byte characters hold ASCII bytes (gbk, sjis, …)
 * makes the server read later statements differently from iamdb, so it is
 * refused for everyone (a change to an unnamed one, for all but account
 * administrators); SQL built at run time (PREPARE FROM an expression,
 * EXECUTE IMMEDIATE of one, sys.execute_prepared_stmt) may rename or drop an
 * IAM account unseen, so only account administrators may run it.
 */
function decideOther(verdict: Extract<StatementVerdict, { kind: 'other' }>, role: SessionRole): AccountDecision {
  const report = verdict.clientCharset;
  if (report !== undefined && !report.asciiTransparent) {
    const unsafe = report.changes.find((c) => c.charset !== undefined && !isAsciiTransparentCharset(c.charset))?.charset;
    // A change to something other than a name (a variable such as a dump's @saved_cs_client, DEFAULT,
    // an expression) may be safe: account administrators, who may do unseen what it could hide, may run it.
    if (unsafe !== undefined || !isAccountAdmin(role)) {
      return {
        action: 'refuse',
        reason: 'UnsafeCharset',
        errno: 'ER_NOT_SUPPORTED_YET',
        message: `iamdb refused this statement: the client character set must be named and ASCII-transparent (utf8mb4, latin1, …)${unsafe ? `, not ${unsafe}` : ''}; big5, cp932, gbk, sjis and gb18030 would let the server read statements differently from iamdb`,
      };
    }
  }
  if (verdict.unreadDynamicSql === true && !isAccountAdmin(role)) {
    return {
      action: 'refuse',
      reason: 'UnreadDynamicSql',
      errno: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
      message:
        'Access denied; iamdb cannot read SQL built at run time (PREPARE or EXECUTE IMMEDIATE of an expression or a variable), which could manage accounts unseen: only the master user or an account administrator of iamdb may run it. Prepare a string literal, or use the client protocol\'s prepared statements',
    };
  }
  return FORWARD;
}

/** True for the master and the instance's account administrators. */
export function isAccountAdmin(role: SessionRole): boolean {
  return role.user === role.master || role.accountAdmins.includes(role.user);
}

function quoteAccount(a: Account): string {
  return `'${a.user}'@'${a.host}'`;
}

/** The IAM accounts a reference may stand for: the named one, or for the session's own, every IAM account of its user name. */
function iamAccountsOf(ref: AccountRef, role: SessionRole, records: IamRecords): Account[] {
  if (ref.self) return [...records.accountsOf(role.user)];
  const found = records.find(ref);
  return found === undefined ? [] : [found];
}

/** The accounts an effect takes away from IAM (changed authentication, dropped, renamed away). */
function iamAccountsLeaving(effect: AccountEffect, role: SessionRole, records: IamRecords): Account[] {
  switch (effect.action) {
    case 'changes-auth':
    case 'dropped':
      return iamAccountsOf(effect.account, role, records);
    case 'renamed':
      return iamAccountsOf(effect.from, role, records);
    default:
      return [];
  }
}

function recordChanges(verdict: AccountVerdict, role: SessionRole, records: IamRecords): RecordChange[] {
  const out: RecordChange[] = [];
  for (const effect of verdict.effects) {
    if (effect.action === 'renamed') {
      for (const from of iamAccountsOf(effect.from, role, records)) out.push({ kind: 'rename', from, to: effect.to });
    } else if (effect.action === 'dropped' || (effect.action === 'changes-auth' && !(verdict.statement === 'CREATE USER' && !verdict.orReplace))) {
      // A plain CREATE USER of an existing account fails or (IF NOT EXISTS) skips it: nothing changes.
      for (const account of iamAccountsLeaving(effect, role, records)) out.push({ kind: 'remove', account });
    }
  }
  return out;
}

/**
 * The IAM accounts a REQUIRE clause would bind: those becoming IAM users and
 * the IAM accounts it names without changing their authentication (an
 * account leaving IAM is no longer the gateway's to log in as).
 */
function iamAccountsRequiring(verdict: AccountVerdict, role: SessionRole, records: IamRecords): Account[] {
  const out: Account[] = [];
  for (const effect of verdict.effects) {
    if (effect.action === 'becomes-iam') out.push(effect.account);
    else if (effect.action === 'untouched') out.push(...iamAccountsOf(effect.account, role, records));
  }
  return out;
}

/**
 * The gateway logs in to the server for IAM users: a TLS requirement it
 * cannot meet would lock the account out of every IAM login, so it is
 * refused when it is made, with the reason. It has no client certificate
 * (X509, ISSUER, SUBJECT), and REQUIRE SSL needs its own link to the server
 * to be TLS (targetTls, and a server that offers TLS).
 */
function decideTlsRequirement(verdict: AccountVerdict, role: SessionRole, records: IamRecords, link: ServerLinkFacts): AccountDecision | undefined {
  if (verdict.tlsRequirement === undefined) return undefined;
  const account = iamAccountsRequiring(verdict, role, records)[0];
  if (account === undefined) return undefined;
  if (verdict.tlsRequirement === 'client-certificate') {
    return {
      action: 'refuse',
      reason: 'ClientCertificateRequired',
      errno: 'ER_NOT_SUPPORTED_YET',
      message: `iamdb refused this statement: IAM account ${quoteAccount(account)} cannot REQUIRE X509, ISSUER or SUBJECT, since iamdb logs in to the server for IAM users and has no client certificate to present; use REQUIRE SSL (clients always reach iamdb over TLS)`,
    };
  }
  if (!link.tls) {
    return {
      action: 'refuse',
      reason: 'ServerLinkInClear',
      errno: 'ER_NOT_SUPPORTED_YET',
      message: `iamdb refused this statement: IAM account ${quoteAccount(account)} cannot REQUIRE SSL while iamdb's link to this server is not encrypted (targetTls is disable, or the server offers no TLS), or every IAM login of the account would fail; turn on TLS to the server, or leave REQUIRE SSL out (clients always reach iamdb over TLS)`,
    };
  }
  return undefined;
}

/** Decides what to do with one COM_QUERY (or, with `prepared`, COM_STMT_PREPARE) text. */
export function decideStatement(verdict: StatementVerdict, role: SessionRole, records: IamRecords, prepared: boolean, link: ServerLinkFacts): AccountDecision {
  if (verdict.kind === 'other') return decideOther(verdict, role);
  if (verdict.kind === 'unknown') {
    return {
      action: 'refuse',
      reason: 'StatementNotUnderstood',
      errno: 'ER_NOT_SUPPORTED_YET',
      message: `iamdb refused this statement: it may manage database accounts but cannot be fully read (${verdict.reason}). Send account statements one per query, without executable comments`,
    };
  }
  if (prepared) {
    return {
      action: 'refuse',
      reason: 'PreparedAccountStatement',
      errno: 'ER_NOT_SUPPORTED_YET',
      message: `iamdb refused this prepared statement: send ${verdict.kind === 'kill' ? 'KILL' : verdict.statement} as a plain query`,
    };
  }
  if (verdict.kind === 'kill') return { action: 'kill', connectionId: verdict.connectionId, query: verdict.query };

  const becoming = verdict.effects.filter((e): e is Extract<AccountEffect, { action: 'becomes-iam' }> => e.action === 'becomes-iam');
  const master = becoming.find((e) => e.account.user === role.master);
  if (master !== undefined) {
    return {
      action: 'refuse',
      reason: 'MasterNotIamUser',
      errno: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
      message: `Access denied; the master user ${quoteAccount(master.account)} cannot be an IAM user (iamdb manages the server with its password)`,
    };
  }
  // The master's password is what iamdb manages the server with: no session changes it, drops or renames it.
  for (const effect of verdict.effects) {
    const ref = effect.action === 'renamed' ? effect.from : effect.action === 'changes-auth' || effect.action === 'dropped' ? effect.account : undefined;
    if (ref !== undefined && (ref.self ? role.user === role.master : ref.user.replace(/ +$/, '') === role.master)) {
      return {
        action: 'refuse',
        reason: 'MasterProtected',
        errno: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
        message: `Access denied; iamdb manages this server with the master user's password: change the master user on the server directly and in iamdb's configuration`,
      };
    }
  }
  if (!isAccountAdmin(role)) {
    for (const effect of verdict.effects) {
      const protectedAccount = iamAccountsLeaving(effect, role, records)[0];
      if (protectedAccount !== undefined) {
        return {
          action: 'refuse',
          reason: 'IamAccountProtected',
          errno: 'ER_SPECIFIC_ACCESS_DENIED_ERROR',
          message: `Access denied; only the master user or an account administrator of iamdb can change the authentication of IAM account ${quoteAccount(protectedAccount)}`,
        };
      }
    }
  }
  const tlsRefusal = decideTlsRequirement(verdict, role, records, link);
  if (tlsRefusal !== undefined) return tlsRefusal;
  if (becoming.length > 0 && verdict.rewrite !== undefined) {
    return { action: 'make-iam', verdict, accounts: becoming.map((e) => ({ user: e.account.user, host: e.account.host })) };
  }
  return { action: 'track', verdict, changes: recordChanges(verdict, role, records) };
}
