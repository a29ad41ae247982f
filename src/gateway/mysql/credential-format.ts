/**
 * How an IAM account's managed credential is installed on a server, decided
 * from the version string of the server's greeting:
 *
 * | server | plugin | statement syntax |
 * |---|---|---|
 * | MariaDB (`…-MariaDB…`) | mysql_native_password | `IDENTIFIED BY PASSWORD '*…'` (rewrite), `IDENTIFIED WITH mysql_native_password AS '*…'` (rotation) |
 * | MySQL 8.0 and later | caching_sha2_password | `IDENTIFIED WITH caching_sha2_password AS '$A$005$…'` |
 * | MySQL before 8.0 | mysql_native_password | `IDENTIFIED WITH mysql_native_password AS '*…'` |
 *
 * MySQL 8.0 still has mysql_native_password, but 8.4 disables it by default
 * and 9.0 removes it, while caching_sha2_password is the default plugin of
 * all three: one format for every MySQL 8+. Either way only the hash goes to
 * the server, and the gateway confirms the account holds exactly that hash
 * (servers store `AS '…'` strings verbatim) before it records the account.
 */
import { cachingSha2PasswordHash, credentialClause, nativePasswordHash, type AccountDialect } from '../../protocol/mysql/index.js';

export interface CredentialFormat {
  readonly dialect: AccountDialect;
  readonly plugin: 'mysql_native_password' | 'caching_sha2_password';
  /** A fresh hash of `password` in this format (caching_sha2 hashes get a new salt each time). */
  hash(password: string): string;
}

/** Whether a greeting's version string is MariaDB's (10.x sends `5.5.5-10.11.6-MariaDB…`, 11.x `11.4.2-MariaDB…`). */
export function isMariadbVersion(serverVersion: string): boolean {
  return /mariadb/i.test(serverVersion);
}

/** The major version of a MySQL version string (`8.4.3`, `8.0.36-log`); 0 when it has none. */
function mysqlMajor(serverVersion: string): number {
  const m = /^(\d+)\./.exec(serverVersion);
  return m === null ? 0 : Number(m[1]);
}

const MARIADB: CredentialFormat = { dialect: 'mariadb', plugin: 'mysql_native_password', hash: nativePasswordHash };
const MYSQL_NATIVE: CredentialFormat = { dialect: 'mysql', plugin: 'mysql_native_password', hash: nativePasswordHash };
const MYSQL_SHA2: CredentialFormat = { dialect: 'mysql', plugin: 'caching_sha2_password', hash: (pw) => cachingSha2PasswordHash(pw) };

/** The credential format for a server by its greeting's version string. */
export function credentialFormatFor(serverVersion: string): CredentialFormat {
  if (isMariadbVersion(serverVersion)) return MARIADB;
  return mysqlMajor(serverVersion) >= 8 ? MYSQL_SHA2 : MYSQL_NATIVE;
}

/**
 * `ALTER USER` text that installs `hash` on an account (rotation through the
 * control connection): `IDENTIFIED WITH <the hash's plugin> AS '<hash>'`,
 * which MariaDB 10.4+ and MySQL 5.7+ both take. `quotedAccount` is the
 * escaped `'user'@'host'`; the hash is checked against its pattern.
 */
export function alterUserStatement(quotedAccount: string, hash: string): string {
  return `ALTER USER ${quotedAccount} ${credentialClause(hash, 'mysql', 1)}`;
}
