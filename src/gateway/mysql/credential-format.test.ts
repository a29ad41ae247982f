import { describe, expect, it } from 'vitest';
import { CACHING_SHA2_PASSWORD_HASH_PATTERN, cachingSha2PasswordHash, classifyStatement, nativePasswordHash } from '../../protocol/mysql/index.js';
import { iamdbErrorOf } from '../../protocol/mysql/test-support/hex.js';
import { alterUserStatement, credentialFormatFor, isMariadbVersion } from './credential-format.js';

const NATIVE = nativePasswordHash('pw');
const SHA2 = cachingSha2PasswordHash('pw', Buffer.from('AbCdEfGhIjKlMnOpQrSt'));

function rewrite(sql: string, hash: string, dialect: 'mariadb' | 'mysql'): string {
  const v = classifyStatement(sql, { backslashes: 'escapes' });
  if (v.kind !== 'account' || v.rewrite === undefined) throw new Error(`no rewrite for ${sql}`);
  return v.rewrite(() => hash, dialect).toString('utf8');
}

describe('credentialFormatFor: by the greeting version string', () => {
  it.each([
    ['5.5.5-10.11.6-MariaDB-0+deb12u1', 'mariadb', 'mysql_native_password'],
    ['11.4.2-MariaDB-log', 'mariadb', 'mysql_native_password'],
    ['8.0.36', 'mysql', 'caching_sha2_password'],
    ['8.4.3', 'mysql', 'caching_sha2_password'],
    ['9.1.0-commercial', 'mysql', 'caching_sha2_password'],
    ['8.0.36-28.1-log', 'mysql', 'caching_sha2_password'],
    ['5.7.44-log', 'mysql', 'mysql_native_password'],
  ])('%s: %s syntax, %s', (version, dialect, plugin) => {
    const f = credentialFormatFor(version);
    expect([f.dialect, f.plugin]).toEqual([dialect, plugin]);
    expect(isMariadbVersion(version)).toBe(dialect === 'mariadb');
  });

  it('hashes in the plugin\'s stored form, a fresh salt each time for caching_sha2', () => {
    expect(credentialFormatFor('8.4.3').hash('pw')).toMatch(CACHING_SHA2_PASSWORD_HASH_PATTERN);
    expect(credentialFormatFor('8.4.3').hash('pw')).not.toBe(credentialFormatFor('8.4.3').hash('pw'));
    expect(credentialFormatFor('5.5.5-10.11.6-MariaDB').hash('pw')).toBe(NATIVE);
  });
});

describe('IAM account rewrite, as MySQL 8.0/8.4 take it', () => {
  const iam = "CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL";

  it('MySQL 8+: IDENTIFIED WITH caching_sha2_password AS the $A$005$ hash, every other byte kept', () => {
    expect(rewrite(iam, SHA2, 'mysql')).toBe(`CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH caching_sha2_password AS '${SHA2}' REQUIRE SSL`);
    expect(rewrite("ALTER USER jane IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", SHA2, 'mysql')).toBe(`ALTER USER jane IDENTIFIED WITH caching_sha2_password AS '${SHA2}'`);
  });

  it('MySQL before 8.0: IDENTIFIED WITH mysql_native_password AS, never the BY PASSWORD form MySQL 8 removed', () => {
    expect(rewrite(iam, NATIVE, 'mysql')).toBe(`CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED WITH mysql_native_password AS '${NATIVE}' REQUIRE SSL`);
  });

  it('MariaDB unchanged: IDENTIFIED BY PASSWORD, and it refuses a caching_sha2 hash', () => {
    expect(rewrite(iam, NATIVE, 'mariadb')).toBe(`CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY PASSWORD '${NATIVE}' REQUIRE SSL`);
    const v = classifyStatement(iam, { backslashes: 'escapes' });
    if (v.kind !== 'account' || v.rewrite === undefined) throw new Error('expected a rewrite');
    const r = v.rewrite;
    expect(r(() => NATIVE)).toEqual(r(() => NATIVE, 'mariadb'));
    expect(iamdbErrorOf(() => r(() => SHA2, 'mariadb')).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });

  it('refuses anything that is not exactly a hash iamdb makes (quoting stays safe)', () => {
    const v = classifyStatement(iam, { backslashes: 'escapes' });
    if (v.kind !== 'account' || v.rewrite === undefined) throw new Error('expected a rewrite');
    const r = v.rewrite;
    for (const bad of [`${SHA2}'`, SHA2.replace('AbCd', "Ab'd"), SHA2.slice(0, -1), SHA2.replace('$A$005$', '$A$010$'), "x' OR '1"]) {
      expect(iamdbErrorOf(() => r(() => bad, 'mysql')).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    }
  });
});

describe('alterUserStatement (rotation through the control connection)', () => {
  it('names the plugin of the hash', () => {
    expect(alterUserStatement("'jane'@'%'", SHA2)).toBe(`ALTER USER 'jane'@'%' IDENTIFIED WITH caching_sha2_password AS '${SHA2}'`);
    // MariaDB's rotation text, as before.
    expect(alterUserStatement("'jane'@'%'", NATIVE)).toBe(`ALTER USER 'jane'@'%' IDENTIFIED WITH mysql_native_password AS '${NATIVE}'`);
    expect(iamdbErrorOf(() => alterUserStatement("'jane'@'%'", 'plain')).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });
});
