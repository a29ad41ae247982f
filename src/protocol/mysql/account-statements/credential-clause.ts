/**
 * The clause an IAM account's `IDENTIFIED WITH AWSAuthenticationPlugin AS
 * 'RDS'` becomes: the managed credential's hash, in the syntax the server
 * takes. The cleartext never appears in the statement.
 *
 * - MariaDB: `IDENTIFIED BY PASSWORD '*<native hash>'` (MariaDB only; MySQL
 *   8.0 removed this form).
 * - MySQL: `IDENTIFIED WITH <plugin> AS '<hash>'`: caching_sha2_password
 *   (`$A$005$…`, MySQL 8.0, 8.4 and 9.x) or mysql_native_password (`*…`,
 *   5.7; disabled by default in 8.4 and gone in 9.0).
 *
 * Hashes must match their pattern exactly, so the quoted literal never
 * needs escaping in any sql_mode.
 */
import { IamdbError } from '../../../errors/index.js';
import { CACHING_SHA2_PASSWORD_HASH_PATTERN } from '../auth/caching-sha2-password.js';
import { NATIVE_PASSWORD_HASH_PATTERN } from '../auth/native-password.js';

/** Whose account syntax a rewrite speaks. */
export type AccountDialect = 'mariadb' | 'mysql';

/** The clause for `hash`, or an IamdbError when the hash is not one the dialect takes. */
export function credentialClause(hash: string | undefined, dialect: AccountDialect, accountNumber: number): string {
  if (hash !== undefined && NATIVE_PASSWORD_HASH_PATTERN.test(hash)) {
    return dialect === 'mariadb' ? `IDENTIFIED BY PASSWORD '${hash}'` : `IDENTIFIED WITH mysql_native_password AS '${hash}'`;
  }
  if (hash !== undefined && dialect === 'mysql' && CACHING_SHA2_PASSWORD_HASH_PATTERN.test(hash)) {
    return `IDENTIFIED WITH caching_sha2_password AS '${hash}'`;
  }
  throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
    what: 'account statement rewrite',
    reason: `no valid ${dialect === 'mariadb' ? 'native password' : 'native or caching_sha2 password'} hash for account #${accountNumber}`,
  });
}
