/**
 * What RDS Proxy says to a client that it refuses, in one place: each
 * catalogued failure (REFERENCE.md 4.7, AWS's troubleshooting page) rendered
 * as a PostgreSQL ErrorResponse (FATAL) or a MySQL ERR packet, with AWS's
 * texts. The wire says this much and no more; the session writes the precise
 * reason (`auditReason`) to the audit log.
 *
 * AWS publishes the texts, not the PostgreSQL SQLSTATEs. iamdb chooses real
 * ones from PostgreSQL's table by what each failure is: 28000 for refused
 * authorization (TLS required, no credentials, IAM), 28P01 for a wrong
 * password, 0A000 for unsupported features, 53300 for connection limits,
 * 08004 when no database connection came in time, XX000 for the rest. The
 * MySQL errors are AWS's own numbers and SQLSTATEs (1040 with HY000, unlike
 * the server's 08004; 9501 is RDS Proxy's).
 *
 * @see https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy.troubleshooting.html
 */
import { SqlState, encodeErrorResponse, type ErrorFields } from '../../protocol/postgres/index.js';
import { MysqlError, encodeErrPacket, encodePacket } from '../../protocol/mysql/index.js';

/** A refusal the proxy answers itself. `user` is the login's database user as the client named it. */
export type ProxyWireFailure =
  | { readonly kind: 'TlsRequired' }
  | { readonly kind: 'IamRequiresTls'; readonly user: string }
  | { readonly kind: 'IamAuthFailed'; readonly user: string }
  | { readonly kind: 'NoCredentials'; readonly user: string }
  | { readonly kind: 'WrongPassword'; readonly user: string; /** MySQL: whether the client answered with a password. */ readonly usingPassword?: boolean }
  | { readonly kind: 'UnsupportedAuthMethod'; readonly user: string }
  | { readonly kind: 'MissingUser' }
  | { readonly kind: 'UnsupportedProtocolVersion' }
  | { readonly kind: 'ReplicationUnsupported' }
  | { readonly kind: 'OptionUnsupported'; readonly option: string }
  | { readonly kind: 'IamThrottled' }
  | { readonly kind: 'TooManyConnections'; readonly limit: number }
  | { readonly kind: 'ConnectionRateExceeded'; readonly limit: number }
  | { readonly kind: 'CharsetRefused'; readonly value: string }
  | { readonly kind: 'BorrowTimeout' }
  | { readonly kind: 'DatabaseError'; readonly sqlState: string; readonly message: string }
  | { readonly kind: 'UnknownError' };

export type ProxyWireFailureKind = ProxyWireFailure['kind'];

/** The audit reason each failure is logged with unless the session knows a more precise one. */
export const proxyAuditReason: Readonly<Record<ProxyWireFailureKind, string>> = {
  TlsRequired: 'TlsRequired',
  IamRequiresTls: 'TlsRequired',
  IamAuthFailed: 'NotAuthorized',
  NoCredentials: 'NoProxyCredentials',
  WrongPassword: 'ProxyPasswordWrong',
  UnsupportedAuthMethod: 'UnsupportedAuthMethod',
  MissingUser: 'MalformedStartup',
  UnsupportedProtocolVersion: 'UnsupportedProtocol',
  ReplicationUnsupported: 'UnsupportedProtocol',
  OptionUnsupported: 'UnsupportedProtocol',
  IamThrottled: 'IamThrottled',
  TooManyConnections: 'TooManyConnections',
  ConnectionRateExceeded: 'ConnectionRateExceeded',
  CharsetRefused: 'UnsafeCharset',
  BorrowTimeout: 'BorrowTimeout',
  DatabaseError: 'UpstreamRefused',
  UnknownError: 'InternalError',
};

/** A failure's PostgreSQL SQLSTATE and text. */
export function postgresWireText(f: ProxyWireFailure): { code: string; message: string } {
  const auth = SqlState.INVALID_AUTHORIZATION_SPECIFICATION;
  const unsupported = SqlState.FEATURE_NOT_SUPPORTED;
  switch (f.kind) {
    case 'TlsRequired': return { code: auth, message: 'This RDS Proxy requires TLS connections.' };
    case 'IamRequiresTls': return { code: auth, message: 'IAM authentication is allowed only with SSL connections.' };
    case 'IamAuthFailed': return { code: auth, message: `IAM authentication failed for user ${f.user}. Check the IAM token for this user and try again.` };
    case 'NoCredentials': return { code: auth, message: `This RDS proxy has no credentials for the role ${f.user}. Check the credentials for this role and try again.` };
    case 'WrongPassword': return { code: SqlState.INVALID_PASSWORD, message: `The password that was provided for the role ${f.user} is wrong.` };
    case 'UnsupportedAuthMethod': return { code: auth, message: 'RDS supports only IAM, MD5, or SCRAM authentication.' };
    case 'MissingUser': return { code: auth, message: 'A user name is missing from the connection startup packet. Provide a user name for this connection.' };
    case 'UnsupportedProtocolVersion': return { code: unsupported, message: 'Feature not supported: RDS Proxy supports only version 3.0 of the PostgreSQL messaging protocol.' };
    case 'ReplicationUnsupported': return { code: unsupported, message: "Feature not supported: RDS Proxy currently doesn't support streaming replication mode." };
    case 'OptionUnsupported': return { code: unsupported, message: `Feature not supported: RDS Proxy currently doesn't support the option ${f.option}.` };
    case 'IamThrottled': return { code: SqlState.TOO_MANY_CONNECTIONS, message: 'The IAM authentication failed because of too many competing requests.' };
    case 'TooManyConnections': return { code: SqlState.TOO_MANY_CONNECTIONS, message: `The maximum number of client connections to the proxy exceeded ${f.limit}.` };
    case 'ConnectionRateExceeded': return { code: SqlState.TOO_MANY_CONNECTIONS, message: `Rate of connection to proxy exceeded ${f.limit}.` };
    case 'CharsetRefused': return { code: SqlState.INTERNAL_ERROR, message: 'Unknown error.' };
    case 'BorrowTimeout': return { code: SqlState.SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION, message: 'Timed-out waiting to acquire database connection.' };
    case 'DatabaseError': return { code: f.sqlState, message: `Request returned an error: ${f.message}.` };
    case 'UnknownError': return { code: SqlState.INTERNAL_ERROR, message: 'Unknown error.' };
  }
}

/** A failure as an ErrorResponse (FATAL: every one of them ends the connection). */
export function postgresWireError(f: ProxyWireFailure): Buffer {
  const { code, message } = postgresWireText(f);
  const fields: ErrorFields = { severity: 'FATAL', severityNonLocalized: 'FATAL', code, message };
  return encodeErrorResponse(fields);
}

/** A failure's MySQL errno, SQLSTATE and text. */
export function mysqlWireText(f: ProxyWireFailure): { errno: number; sqlState: string; message: string } {
  const denied = (user: string, usingPassword = true): { errno: number; sqlState: string; message: string } => ({
    ...MysqlError.ER_ACCESS_DENIED_ERROR,
    message: `Access denied for user '${user}'@'%' (using password: ${usingPassword ? 'YES' : 'NO'})`,
  });
  const limit = (message: string): { errno: number; sqlState: string; message: string } => ({ errno: MysqlError.ER_CON_COUNT_ERROR.errno, sqlState: 'HY000', message });
  switch (f.kind) {
    case 'TlsRequired': return { ...MysqlError.ER_SECURE_TRANSPORT_REQUIRED, message: 'This RDS Proxy requires TLS connections.' };
    case 'IamRequiresTls':
    case 'IamAuthFailed':
    case 'NoCredentials':
    case 'UnsupportedAuthMethod': return denied(f.user);
    case 'WrongPassword': return denied(f.user, f.usingPassword ?? true);
    case 'MissingUser': return denied('');
    case 'IamThrottled': return limit('IAM authentication rate limit exceeded');
    case 'TooManyConnections': return limit(`Number simultaneous connections exceeded (${f.limit})`);
    case 'ConnectionRateExceeded': return limit(`Connections rate limit exceeded (${f.limit})`);
    case 'CharsetRefused': return { ...MysqlError.ER_WRONG_VALUE_FOR_VAR, message: `Variable 'character_set_client' can't be set to the value of '${f.value}'` };
    case 'BorrowTimeout': return { errno: 9501, sqlState: 'HY000', message: 'Timed-out waiting to acquire database connection' };
    case 'DatabaseError': return { ...MysqlError.ER_UNKNOWN_ERROR, message: `Request returned an error: ${f.message}` };
    case 'UnsupportedProtocolVersion':
    case 'ReplicationUnsupported':
    case 'OptionUnsupported':
    case 'UnknownError': return { ...MysqlError.ER_UNKNOWN_ERROR, message: 'Unknown error' };
  }
}

/** A failure as a framed ERR packet with sequence id `seq`. */
export function mysqlWireError(f: ProxyWireFailure, seq: number): Buffer {
  return encodePacket(encodeErrPacket(mysqlWireText(f)), seq);
}
