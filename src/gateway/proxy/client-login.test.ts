/**
 * RDS Proxy's login decisions and wire errors: RequireTLS before anything,
 * then the user's credentials, IAMAuth and the password method; each
 * refusal decoded back with the protocol decoders to check AWS's texts and
 * the SQLSTATEs and errnos iamdb renders them with.
 */
import { describe, expect, it } from 'vitest';
import { decodeErrPacket } from '../../protocol/mysql/index.js';
import { ByteReader, FrameDecoder, decodeErrorResponse } from '../../protocol/postgres/index.js';
import type { ProxyAuthEntry, ProxyCredentialOutcome } from '../../rds/index.js';
import { Secret } from '../../util/index.js';
import { decideProxyLogin, passwordMethod, proxyDbUserArn } from './client-login.js';
import { mysqlWireError, postgresWireError, type ProxyWireFailure } from './wire-errors.js';

const entry = (e: Partial<ProxyAuthEntry> = {}): ProxyAuthEntry => ({ secretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app-AbCdEf', iamAuth: 'DISABLED', ...e });
const good = (e?: Partial<ProxyAuthEntry>): ProxyCredentialOutcome => ({ ok: true, entry: entry(e), secretArn: entry().secretArn, versionId: 'v1', username: 'app', password: new Secret('pw') });
const base = { engine: 'postgres' as const, tls: true, requireTls: false, user: 'app' };

function pgError(buf: Buffer): { code: string; message: string; severity: string } {
  const d = new FrameDecoder({ maxMessageBytes: 1 << 16 });
  d.push(buf);
  const f = d.next()!;
  expect(f.type).toBe(0x45);
  return decodeErrorResponse(new ByteReader(f.body)).fields;
}

function myError(buf: Buffer): { errno: number; sqlState: string | undefined; message: string; seq: number } {
  return { ...decodeErrPacket(buf.subarray(4)), seq: buf[3]! };
}

describe('decideProxyLogin', () => {
  it('refuses a clear link under RequireTLS before looking at credentials', () => {
    expect(decideProxyLogin({ ...base, tls: false, requireTls: true, credential: undefined })).toMatchObject({ kind: 'refuse', failure: { kind: 'TlsRequired' }, reason: 'TlsRequired' });
  });

  it('refuses a user no secret names, and one whose secret the role cannot read, with the credential reason for the audit log', () => {
    expect(decideProxyLogin({ ...base, credential: undefined })).toMatchObject({ kind: 'refuse', failure: { kind: 'NoCredentials', user: 'app' }, reason: 'NoProxyCredentials' });
    const failed: ProxyCredentialOutcome = { ok: false, entry: entry(), secretArn: entry().secretArn, reason: 'SecretAccessDenied', description: 'role lacks GetSecretValue' };
    expect(decideProxyLogin({ ...base, credential: failed })).toMatchObject({ kind: 'refuse', failure: { kind: 'NoCredentials' }, reason: 'SecretAccessDenied', detail: 'role lacks GetSecretValue' });
  });

  it('asks for a token when IAMAuth is REQUIRED, only over TLS', () => {
    expect(decideProxyLogin({ ...base, credential: good({ iamAuth: 'REQUIRED' }) })).toMatchObject({ kind: 'iam' });
    expect(decideProxyLogin({ ...base, tls: false, credential: good({ iamAuth: 'REQUIRED' }) })).toMatchObject({ kind: 'refuse', failure: { kind: 'IamRequiresTls' } });
  });

  it('picks the password method from ClientPasswordAuthType with AWS\'s defaults', () => {
    expect(decideProxyLogin({ ...base, credential: good() })).toMatchObject({ kind: 'password', method: 'SCRAM-SHA-256' });
    expect(decideProxyLogin({ ...base, engine: 'mysql', tls: false, credential: good() })).toMatchObject({ kind: 'password', method: 'caching_sha2_password' });
    expect(passwordMethod('postgres', 'POSTGRES_MD5')).toBe('MD5');
    expect(passwordMethod('mysql', 'MYSQL_NATIVE_PASSWORD')).toBe('mysql_native_password');
    expect(decideProxyLogin({ ...base, credential: good({ clientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' }) })).toMatchObject({ kind: 'refuse', failure: { kind: 'UnsupportedAuthMethod' } });
  });

  it('authorizes tokens on the proxy\'s dbuser ARN', () => {
    expect(proxyDbUserArn({ partition: 'aws', region: 'us-east-2', account: '123456789012', proxyResourceId: 'prx-ABCDEFGHIJKL01234', dbUser: 'db_user' })).toBe('arn:aws:rds-db:us-east-2:123456789012:dbuser:prx-ABCDEFGHIJKL01234/db_user');
  });
});

describe('RDS Proxy wire errors', () => {
  const cases: Array<[ProxyWireFailure, { code: string; message: string }, { errno: number; sqlState: string; message: string }]> = [
    [{ kind: 'TlsRequired' }, { code: '28000', message: 'This RDS Proxy requires TLS connections.' }, { errno: 3159, sqlState: 'HY000', message: 'This RDS Proxy requires TLS connections.' }],
    [{ kind: 'NoCredentials', user: 'bob' }, { code: '28000', message: 'This RDS proxy has no credentials for the role bob. Check the credentials for this role and try again.' }, { errno: 1045, sqlState: '28000', message: "Access denied for user 'bob'@'%' (using password: YES)" }],
    [{ kind: 'WrongPassword', user: 'bob' }, { code: '28P01', message: 'The password that was provided for the role bob is wrong.' }, { errno: 1045, sqlState: '28000', message: "Access denied for user 'bob'@'%' (using password: YES)" }],
    [{ kind: 'IamAuthFailed', user: 'bob' }, { code: '28000', message: 'IAM authentication failed for user bob. Check the IAM token for this user and try again.' }, { errno: 1045, sqlState: '28000', message: "Access denied for user 'bob'@'%' (using password: YES)" }],
    [{ kind: 'IamRequiresTls', user: 'bob' }, { code: '28000', message: 'IAM authentication is allowed only with SSL connections.' }, { errno: 1045, sqlState: '28000', message: "Access denied for user 'bob'@'%' (using password: YES)" }],
    [{ kind: 'TooManyConnections', limit: 100 }, { code: '53300', message: 'The maximum number of client connections to the proxy exceeded 100.' }, { errno: 1040, sqlState: 'HY000', message: 'Number simultaneous connections exceeded (100)' }],
    [{ kind: 'ConnectionRateExceeded', limit: 50 }, { code: '53300', message: 'Rate of connection to proxy exceeded 50.' }, { errno: 1040, sqlState: 'HY000', message: 'Connections rate limit exceeded (50)' }],
    [{ kind: 'IamThrottled' }, { code: '53300', message: 'The IAM authentication failed because of too many competing requests.' }, { errno: 1040, sqlState: 'HY000', message: 'IAM authentication rate limit exceeded' }],
    [{ kind: 'BorrowTimeout' }, { code: '08004', message: 'Timed-out waiting to acquire database connection.' }, { errno: 9501, sqlState: 'HY000', message: 'Timed-out waiting to acquire database connection' }],
    [{ kind: 'UnknownError' }, { code: 'XX000', message: 'Unknown error.' }, { errno: 1105, sqlState: 'HY000', message: 'Unknown error' }],
    [{ kind: 'DatabaseError', sqlState: '3D000', message: 'database "x" does not exist' }, { code: '3D000', message: 'Request returned an error: database "x" does not exist.' }, { errno: 1105, sqlState: 'HY000', message: 'Request returned an error: database "x" does not exist' }],
  ];

  it.each(cases)('%j renders AWS\'s text in both engines', (failure, pg, my) => {
    expect(pgError(postgresWireError(failure))).toMatchObject({ ...pg, severity: 'FATAL' });
    expect(myError(mysqlWireError(failure, 2))).toEqual({ type: 'ERR', ...my, seq: 2 });
  });

  it('renders PostgreSQL-only refusals with their feature texts', () => {
    expect(pgError(postgresWireError({ kind: 'ReplicationUnsupported' }))).toMatchObject({ code: '0A000', message: "Feature not supported: RDS Proxy currently doesn't support streaming replication mode." });
    expect(pgError(postgresWireError({ kind: 'OptionUnsupported', option: 'work_mem' }))).toMatchObject({ code: '0A000', message: "Feature not supported: RDS Proxy currently doesn't support the option work_mem." });
    expect(pgError(postgresWireError({ kind: 'MissingUser' }))).toMatchObject({ code: '28000' });
    expect(myError(mysqlWireError({ kind: 'CharsetRefused', value: 'ucs2' }, 1))).toMatchObject({ errno: 1231, sqlState: '42000', message: "Variable 'character_set_client' can't be set to the value of 'ucs2'" });
  });
});
