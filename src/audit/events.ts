/**
 * Audit event shapes. Every authentication decision becomes one event; the
 * wire tells the client little ("PAM authentication failed"), the audit log
 * tells the operator everything, by reason code.
 */

/** Precise reasons for a login decision. */
export const auditReasons = [
  'Allowed',
  'PasswordLogin',
  'InvalidToken',
  'ExpiredToken',
  'FutureToken',
  'WrongEndpoint',
  'WrongRegion',
  'WrongService',
  'DBUserMismatch',
  'SignatureMismatch',
  'UnknownAccessKey',
  'InactiveAccessKey',
  'InvalidSessionToken',
  'ExpiredSessionCredentials',
  'UnknownPrincipal',
  'NotAuthorized',
  'ExplicitDeny',
  'TlsRequired',
  'IamAuthDisabled',
  'NotIamUser',
  'IamUserPasswordLogin',
  'UpstreamAuthFailed',
  'UpstreamTlsRequired',
  'UpstreamUnavailable',
  'ChangeUserRefused',
  'MasterNotIamUser',
  'ServerLoginsBusy',
  'UnsafeCharset',
  'ProtocolViolation',
  'LoginTimeout',
  'InternalError',
  // Reasons carried by protocol and IAM error codes (see docs/audit.md).
  'AccessDenied',
  'MalformedFrame',
  'FrameTooLarge',
  'MalformedStartup',
  'UnexpectedMessage',
  'UnsupportedProtocol',
  'MalformedPacket',
  'UpstreamAuthUnsupported',
  'UpstreamScramFailed',
  'UpstreamChannelBinding',
  'UpstreamCleartextRefused',
  'UpstreamRefused',
  // Proxy endpoints (RDS Proxy): client logins (src/gateway/proxy) and credential reads (src/rds/proxy-credentials.ts).
  'NoProxyCredentials',
  'ProxyPasswordWrong',
  'UnsupportedAuthMethod',
  'FullAuthNeedsTls',
  'MalformedAuthResponse',
  'IamThrottled',
  'TooManyConnections',
  'ConnectionRateExceeded',
  'BorrowTimeout',
  'RoleNotFound',
  'RoleNotTrustedByRds',
  'SecretAccessDenied',
  'SecretNotFound',
  'SecretUnavailable',
  'KmsKeyUnusable',
  'KmsDecryptDenied',
  'SecretValueInvalid',
  'CredentialsUnavailable',
] as const;
export type AuditReason = (typeof auditReasons)[number];

export interface AuthAuditEvent {
  readonly event: 'db.auth';
  readonly time: string;
  readonly decision: 'allow' | 'deny';
  readonly reason: AuditReason | string;
  readonly engine: 'postgres' | 'mysql';
  /** The instance endpoint; proxy endpoints name `proxy` and `proxyEndpoint` instead. */
  readonly instance?: string;
  readonly proxy?: string;
  readonly proxyEndpoint?: string;
  readonly endpoint: string;
  readonly source: string;
  readonly dbUser: string;
  readonly database?: string;
  readonly method: 'iam' | 'password' | 'none';
  readonly tls: boolean;
  readonly principal?: string;
  readonly accessKeyId?: string;
  readonly resource?: string;
  /** Statements that decided an authorization, as "policy#index(sid)". */
  readonly matchedStatements?: readonly string[];
  /** Human explanation; never holds a token, password or secret. */
  readonly detail?: string;
  readonly sessionId: string;
}

/**
 * A proxy session began: the client is logged in and joined its pool (it
 * borrows server connections from then on). Ends with db.session.end of the
 * same sessionId.
 */
export interface SessionStartAuditEvent {
  readonly event: 'db.session.start';
  readonly time: string;
  readonly engine: 'postgres' | 'mysql';
  readonly proxy: string;
  readonly proxyEndpoint: string;
  readonly source: string;
  readonly dbUser: string;
  readonly database?: string;
  readonly method: 'iam' | 'password';
  readonly tls: boolean;
  /** IAM logins: the IAM user or role session behind the token. */
  readonly principal?: string;
  readonly sessionId: string;
}

export interface SessionAuditEvent {
  readonly event: 'db.session.end';
  readonly time: string;
  readonly engine: 'postgres' | 'mysql';
  readonly instance?: string;
  readonly proxy?: string;
  readonly proxyEndpoint?: string;
  /** Proxy sessions: why the client was pinned to one server connection, if it was. */
  readonly pinReasons?: readonly string[];
  readonly source: string;
  readonly dbUser: string;
  readonly principal?: string;
  readonly sessionId: string;
  readonly durationMs: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly reason?: string;
}

/**
 * An account statement the MySQL gateway read: applied (IAM records changed
 * after the server accepted it) or refused before it reached the server.
 */
export interface AccountAuditEvent {
  readonly event: 'db.account';
  readonly time: string;
  readonly decision: 'allow' | 'deny';
  /** AccountChanged, or why it was refused: StatementNotUnderstood, IamAccountProtected, MasterNotIamUser, MasterProtected, PreparedAccountStatement, UnreadDynamicSql, UnsafeCharset. */
  readonly reason: string;
  readonly engine: 'mysql';
  readonly instance: string;
  readonly source: string;
  /** The session's database user (who ran the statement). */
  readonly dbUser: string;
  readonly principal?: string;
  readonly sessionId: string;
  /** CREATE USER, ALTER USER, DROP USER, RENAME USER, SET PASSWORD, GRANT. */
  readonly statement?: string;
  /** The accounts whose IAM records changed, as 'user'@'host'. */
  readonly accounts?: readonly string[];
  readonly change?: 'becomes-iam' | 'leaves-iam';
  /** Whether the session's user may manage IAM accounts (the master or an account administrator). */
  readonly admin?: boolean;
  readonly detail?: string;
}

/** One control-plane request: who asked for what, and what iamdb decided. */
export interface ApiAuditEvent {
  readonly event: 'api.call';
  readonly time: string;
  readonly requestId: string;
  readonly service: string;
  readonly action: string;
  /** allow: done; deny: refused by authentication or authorization; error: failed otherwise. */
  readonly decision: 'allow' | 'deny' | 'error';
  /** The catalog code behind a refusal or failure (e.g. IAM_ACCESS_DENIED, REQUEST_SIGNATURE_MISMATCH). */
  readonly reason?: string;
  /** The AWS error code the caller saw. */
  readonly errorCode?: string;
  readonly source: string;
  readonly principal?: string;
  readonly accessKeyId?: string;
  /** The action and resource of the authorization that refused, and the statements that decided it. */
  readonly authorization?: { readonly action: string; readonly resource: string; readonly decision: string; readonly matchedStatements: readonly string[] };
  /** Human explanation; never holds a token, password or secret. */
  readonly detail?: string;
}

export type AuditEvent = AuthAuditEvent | SessionStartAuditEvent | SessionAuditEvent | ApiAuditEvent | AccountAuditEvent;
