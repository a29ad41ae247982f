import { describe, expect, it } from 'vitest';
import { classifyStatement, type Account } from '../../protocol/mysql/index.js';
import { decideStatement, type IamRecords, type SessionRole } from './account-policy.js';

const iam: Account[] = [
  { user: 'mallory', host: '%' },
  { user: 'alice', host: '10.%' },
];
const records: IamRecords = {
  find: (a) => iam.find((r) => r.user === a.user.replace(/ +$/, '') && r.host.toLowerCase() === a.host.replace(/ +$/, '').toLowerCase()),
  accountsOf: (user) => iam.filter((r) => r.user === user),
};
const mallory: SessionRole = { user: 'mallory', master: 'admin', accountAdmins: ['dba'] };
const admin: SessionRole = { user: 'admin', master: 'admin', accountAdmins: ['dba'] };
const dba: SessionRole = { user: 'dba', master: 'admin', accountAdmins: ['dba'] };
const eve: SessionRole = { user: 'eve', master: 'admin', accountAdmins: ['dba'] };

function decide(sql: string, role: SessionRole, prepared = false): ReturnType<typeof decideStatement> {
  return decideStatement(classifyStatement(sql, { backslashes: 'escapes' }), role, records, prepared, { tls: true });
}

describe('decideStatement', () => {
  it('refuses an IAM user every change to her own authentication, however she names herself', () => {
    for (const sql of [
      "SET PASSWORD = PASSWORD('x')",
      "SET PASSWORD FOR mallory = PASSWORD('x')",
      "ALTER USER CURRENT_USER() IDENTIFIED BY 'x'",
      "ALTER USER 'mallory '@'%' IDENTIFIED BY 'x'",
      "GRANT USAGE ON *.* TO mallory IDENTIFIED BY 'x'",
      'DROP USER mallory',
      'RENAME USER mallory TO free',
      "CREATE OR REPLACE USER mallory IDENTIFIED BY 'x'",
    ]) {
      expect(decide(sql, mallory), sql).toMatchObject({ action: 'refuse', reason: 'IamAccountProtected' });
    }
  });

  it('lets anyone change accounts that are not IAM users, and tracks nothing for them', () => {
    expect(decide("SET PASSWORD = PASSWORD('x')", eve)).toMatchObject({ action: 'track', changes: [] });
    expect(decide("ALTER USER bob IDENTIFIED BY 'x'", eve)).toMatchObject({ action: 'track', changes: [] });
    expect(decide('ALTER USER mallory REQUIRE SSL', eve)).toMatchObject({ action: 'track', changes: [] });
  });

  it('lets the master and account administrators take accounts out of IAM, recording the change for after the OK', () => {
    expect(decide("ALTER USER mallory IDENTIFIED BY 'x'", admin)).toMatchObject({ action: 'track', changes: [{ kind: 'remove', account: { user: 'mallory', host: '%' } }] });
    expect(decide("DROP USER 'alice'@'10.%'", dba)).toMatchObject({ action: 'track', changes: [{ kind: 'remove', account: { user: 'alice', host: '10.%' } }] });
    expect(decide('RENAME USER mallory TO m2', dba)).toMatchObject({ action: 'track', changes: [{ kind: 'rename', from: { user: 'mallory', host: '%' }, to: { user: 'm2', host: '%' } }] });
  });

  it('changes no record for a plain CREATE USER of an existing IAM account (the server refuses or skips it)', () => {
    expect(decide("CREATE USER IF NOT EXISTS mallory IDENTIFIED BY 'x'", admin)).toMatchObject({ action: 'track', changes: [] });
  });

  it('never makes the master an IAM user, whoever asks', () => {
    for (const role of [admin, dba, eve]) {
      expect(decide("CREATE USER admin IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", role)).toMatchObject({ action: 'refuse', reason: 'MasterNotIamUser' });
    }
  });

  it('refuses character sets that are not ASCII-transparent to everyone, and SQL built at run time to all but account administrators', () => {
    for (const role of [admin, eve]) expect(decide('SET NAMES gbk', role)).toMatchObject({ action: 'refuse', reason: 'UnsafeCharset' });
    // A dump restores its character set from a variable: account administrators may.
    expect(decide('SET character_set_client = @saved_cs_client', eve)).toMatchObject({ action: 'refuse', reason: 'UnsafeCharset' });
    expect(decide('SET character_set_client = @saved_cs_client', admin)).toEqual({ action: 'forward' });
    expect(decide('SET NAMES utf8mb4', eve)).toEqual({ action: 'forward' });
    expect(decide("EXECUTE IMMEDIATE CONCAT('RENAME USER alice', ' TO x')", eve)).toMatchObject({ action: 'refuse', reason: 'UnreadDynamicSql' });
    expect(decide('PREPARE s FROM @q', mallory)).toMatchObject({ action: 'refuse', reason: 'UnreadDynamicSql' });
    expect(decide('PREPARE s FROM @q', dba)).toEqual({ action: 'forward' });
    expect(decide("PREPARE s FROM 'SELECT 1'", eve)).toEqual({ action: 'forward' });
  });

  it('never lets a session change, drop or rename the master, itself included', () => {
    for (const role of [admin, dba, eve]) {
      expect(decide("ALTER USER admin IDENTIFIED BY 'x'", role)).toMatchObject({ action: 'refuse', reason: 'MasterProtected' });
      expect(decide('DROP USER admin', role)).toMatchObject({ action: 'refuse', reason: 'MasterProtected' });
    }
    expect(decide("SET PASSWORD = PASSWORD('x')", admin)).toMatchObject({ action: 'refuse', reason: 'MasterProtected' });
  });

  it('rewrites IAM account creation, and refuses what it cannot read or what comes as a prepared statement', () => {
    expect(decide("CREATE USER app IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", eve)).toMatchObject({ action: 'make-iam', accounts: [{ user: 'app', host: '%' }] });
    expect(decide("/*!50000 SET PASSWORD = PASSWORD('x') */", admin)).toMatchObject({ action: 'refuse', reason: 'StatementNotUnderstood', errno: 'ER_NOT_SUPPORTED_YET' });
    expect(decide("SET PASSWORD = PASSWORD('x')", eve, true)).toMatchObject({ action: 'refuse', reason: 'PreparedAccountStatement' });
    expect(decide('KILL QUERY 12', eve)).toEqual({ action: 'kill', connectionId: 12, query: true });
    expect(decide('SELECT 1', eve)).toEqual({ action: 'forward' });
  });
});
