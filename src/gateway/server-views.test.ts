import { describe, expect, it } from 'vitest';
import { refusedForCleartext } from './postgres/upstream.js';
import { PG_APPLICATION_NAME_MAX, mysqlConnectAttributes, pgApplicationName, pgStartupOptions, principalShortName, sessionTag } from './server-views.js';

const sessionId = '5a1f0c3e9b2d4a61';
const user = { principalArn: 'arn:aws:iam::123456789012:user/eng/alice', sessionId };
const role = { principalArn: 'arn:aws:sts::123456789012:assumed-role/db-app/ci-run-42', sessionId };

describe('server views', () => {
  it('names principals briefly', () => {
    expect(principalShortName(user.principalArn)).toBe('alice');
    expect(principalShortName(role.principalArn)).toBe('db-app/ci-run-42');
    expect(principalShortName('arn:aws:iam::123456789012:root')).toBe('root');
  });

  it("keeps the client's application_name and always fits the whole tag in 63 bytes", () => {
    expect(pgApplicationName(undefined, user)).toBe(`iamdb:alice:${sessionId}`);
    expect(pgApplicationName('psql', role)).toBe(`psql iamdb:db-app/ci-run-42:${sessionId}`);
    const long = pgApplicationName('x'.repeat(200), { principalArn: `arn:aws:sts::1:assumed-role/${'r'.repeat(60)}/s`, sessionId });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(PG_APPLICATION_NAME_MAX);
    expect(long.endsWith(`:${sessionId}`)).toBe(true);
    // Non-ASCII would be shown as '?' by the server anyway; never counted as several bytes.
    expect(pgApplicationName('réport', user)).toBe(`r?port iamdb:alice:${sessionId}`);
    expect(sessionTag({ principalArn: 'arn:aws:iam::1:user/a b', sessionId })).toBe(`iamdb:a_b:${sessionId}`);
  });

  it("puts iamdb's settings after the client's own options, escaped", () => {
    expect(pgStartupOptions('-c search_path=app', user)).toBe(`-c search_path=app -c iamdb.principal_arn=${user.principalArn} -c iamdb.session_id=${sessionId}`);
    expect(pgStartupOptions(undefined, { principalArn: 'arn:x a\\b', sessionId })).toBe(`-c iamdb.principal_arn=arn:x\\ a\\\\b -c iamdb.session_id=${sessionId}`);
  });

  it("puts iamdb's attributes first and drops a client's attributes of the same names", () => {
    expect(mysqlConnectAttributes([['_client_name', 'libmariadb'], ['iamdb_principal_arn', 'spoof']], user)).toEqual([
      ['iamdb_principal_arn', user.principalArn],
      ['iamdb_session_id', sessionId],
      ['_client_name', 'libmariadb'],
    ]);
    expect(mysqlConnectAttributes(undefined, user)).toHaveLength(2);
  });

  it('recognises a PostgreSQL refusal of a link in clear', () => {
    expect(refusedForCleartext({ severity: 'FATAL', code: '28000', message: 'no pg_hba.conf entry for host "127.0.0.1", user "a", database "d", no encryption' })).toBe(true);
    expect(refusedForCleartext({ severity: 'FATAL', code: '28000', message: 'pg_hba.conf rejects connection for host "127.0.0.1", user "a", database "d", SSL off' })).toBe(true);
    expect(refusedForCleartext({ severity: 'FATAL', code: '28000', message: 'no pg_hba.conf entry for host "127.0.0.1", user "a", database "d", SSL encryption' })).toBe(false);
    expect(refusedForCleartext({ severity: 'FATAL', code: '28P01', message: 'password authentication failed for user "a"' })).toBe(false);
  });
});
