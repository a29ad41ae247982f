import { describe, expect, it } from 'vitest';
import { classifyStatement, type Account } from '../../protocol/mysql/index.js';
import { decideStatement, type IamRecords, type SessionRole } from './account-policy.js';

const iam: Account[] = [{ user: 'alice', host: '%' }];
const records: IamRecords = {
  find: (a) => iam.find((r) => r.user === a.user && r.host === a.host),
  accountsOf: (user) => iam.filter((r) => r.user === user),
};
const admin: SessionRole = { user: 'admin', master: 'admin', accountAdmins: [] };
const alice: SessionRole = { user: 'alice', master: 'admin', accountAdmins: [] };

function decide(sql: string, tls: boolean, role: SessionRole = admin): ReturnType<typeof decideStatement> {
  return decideStatement(classifyStatement(sql, { backslashes: 'escapes' }), role, records, false, { tls });
}

describe('TLS requirements on IAM accounts (the gateway logs in for them)', () => {
  it('lets REQUIRE SSL through when the link to the server is TLS', () => {
    expect(decide('ALTER USER alice REQUIRE SSL', true)).toMatchObject({ action: 'track', changes: [] });
    expect(decide("GRANT USAGE ON *.* TO alice REQUIRE CIPHER 'ECDHE-RSA-AES256-GCM-SHA384'", true)).toMatchObject({ action: 'track' });
    expect(decide("CREATE USER bob IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL", true)).toMatchObject({ action: 'make-iam' });
  });

  it('refuses REQUIRE SSL on an IAM account while the link to the server is in clear, however it is written', () => {
    for (const sql of [
      'ALTER USER alice REQUIRE SSL',
      "ALTER USER 'alice'@'%' REQUIRE SSL WITH MAX_USER_CONNECTIONS 5",
      'GRANT USAGE ON *.* TO alice REQUIRE SSL',
      "CREATE USER bob IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE SSL",
      'ALTER USER CURRENT_USER() REQUIRE SSL',
    ]) {
      const d = decide(sql, false, sql.includes('CURRENT_USER') ? alice : admin);
      expect(d, sql).toMatchObject({ action: 'refuse', reason: 'ServerLinkInClear', errno: 'ER_NOT_SUPPORTED_YET' });
      expect((d as { message: string }).message).toContain('cannot REQUIRE SSL');
    }
  });

  it('refuses X509, ISSUER and SUBJECT on IAM accounts whatever the link: the gateway has no client certificate', () => {
    for (const sql of ['ALTER USER alice REQUIRE X509', "ALTER USER alice REQUIRE SSL AND ISSUER '/CN=ca'", "GRANT USAGE ON *.* TO alice REQUIRE SUBJECT '/CN=alice'"]) {
      expect(decide(sql, true), sql).toMatchObject({ action: 'refuse', reason: 'ClientCertificateRequired' });
    }
  });

  it('leaves password accounts, REQUIRE NONE and statements without REQUIRE alone', () => {
    expect(decide('ALTER USER carol REQUIRE X509', false)).toMatchObject({ action: 'track', changes: [] });
    expect(decide('ALTER USER alice REQUIRE NONE', false)).toMatchObject({ action: 'track' });
    expect(decide('GRANT SELECT ON db.* TO alice', false)).toMatchObject({ action: 'track' });
    // An administrator turning the account back into a password user may require what it likes.
    expect(decide("ALTER USER alice IDENTIFIED BY 'pw' REQUIRE X509", false)).toMatchObject({ action: 'track', changes: [{ kind: 'remove' }] });
  });
});

describe('the recognizer reports what REQUIRE asks', () => {
  const req = (sql: string): unknown => {
    const v = classifyStatement(sql, { backslashes: 'escapes' });
    return v.kind === 'account' ? v.tlsRequirement : v.kind;
  };
  it('reads each form', () => {
    expect(req('ALTER USER a REQUIRE SSL')).toBe('ssl');
    expect(req("ALTER USER a REQUIRE CIPHER 'x'")).toBe('ssl');
    expect(req('ALTER USER a REQUIRE X509')).toBe('client-certificate');
    expect(req("ALTER USER a REQUIRE CIPHER 'x' AND SUBJECT 'y'")).toBe('client-certificate');
    expect(req("GRANT ALL ON *.* TO a REQUIRE ISSUER 'y' SSL")).toBe('client-certificate');
    expect(req('ALTER USER a REQUIRE NONE')).toBeUndefined();
    expect(req('ALTER USER a WITH MAX_USER_CONNECTIONS 1')).toBeUndefined();
  });
});
