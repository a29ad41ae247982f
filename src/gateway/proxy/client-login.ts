/**
 * How RDS Proxy decides a client login before any byte of authentication:
 * whether the link's TLS is enough, which credentials the user has, and
 * which method the client must answer (an IAM token, or the secret's
 * password by the entry's ClientPasswordAuthType). Pure: the proxy session
 * asks, then runs the method (ScramServer, verifyMd5Password,
 * verifyNativePasswordWithCleartext, CachingSha2Server; IamLogin with
 * {@link proxyDbUserArn} for tokens) and renders refusals with
 * wire-errors.ts.
 *
 * Order, as RDS Proxy answers: RequireTLS first (before the user's
 * credentials are even looked up), then the user's credentials (none, or
 * unreadable: "no credentials for the role"), then the entry's IAMAuth
 * (REQUIRED: a token, only over TLS), then the password method.
 */
import { dbUserArn, type ClientPasswordAuthType, type ProxyCredentialOutcome, type ResolvedProxyCredential } from '../../rds/index.js';
import { proxyAuditReason, type ProxyWireFailure } from './wire-errors.js';

export type ProxyEngine = 'postgres' | 'mysql';

/** The methods a proxy runs for password logins. */
export type ProxyPasswordMethod = 'SCRAM-SHA-256' | 'MD5' | 'mysql_native_password' | 'caching_sha2_password';

export type ProxyLoginDecision =
  /** Refuse with `failure` on the wire, `reason` in the audit log (with `detail` when known). */
  | { readonly kind: 'refuse'; readonly failure: ProxyWireFailure; readonly reason: string; readonly detail?: string }
  /** Ask for an IAM token (cleartext password over TLS / mysql_clear_password) and authorize rds-db:connect on the proxy's dbuser ARN. */
  | { readonly kind: 'iam'; readonly credential: ResolvedProxyCredential }
  /** Check the secret's password with `method`. */
  | { readonly kind: 'password'; readonly method: ProxyPasswordMethod; readonly credential: ResolvedProxyCredential };

/** RequireTLS, the only decision made before the user is known (a clear link is refused at once). */
export function checkProxyTls(input: { requireTls: boolean; tls: boolean }): ProxyLoginDecision | undefined {
  if (input.requireTls && !input.tls) return refuse({ kind: 'TlsRequired' });
  return undefined;
}

/**
 * The decision for `user`, given the outcome of `ProxyCredentials.forUser`
 * (undefined: no secret names this user).
 *
 * @example
 *   const d = decideProxyLogin({ engine: 'postgres', tls: true, requireTls: false, user, credential: await creds.forUser(proxy, user) });
 */
export function decideProxyLogin(input: { engine: ProxyEngine; tls: boolean; requireTls: boolean; user: string; credential: ProxyCredentialOutcome | undefined }): ProxyLoginDecision {
  const early = checkProxyTls(input);
  if (early !== undefined) return early;
  const { user, credential } = input;
  if (credential === undefined) return refuse({ kind: 'NoCredentials', user }, 'no secret of the proxy names this user');
  if (!credential.ok) return refuse({ kind: 'NoCredentials', user }, credential.description, credential.reason);
  const { entry } = credential;
  if (entry.iamAuth === 'REQUIRED') {
    if (!input.tls) return refuse({ kind: 'IamRequiresTls', user });
    return { kind: 'iam', credential };
  }
  if (entry.iamAuth !== 'DISABLED') return refuse({ kind: 'UnsupportedAuthMethod', user }, `IAMAuth ${entry.iamAuth} is for SQL Server proxies only`);
  const method = passwordMethod(input.engine, entry.clientPasswordAuthType);
  if (method === undefined) return refuse({ kind: 'UnsupportedAuthMethod', user }, `ClientPasswordAuthType ${entry.clientPasswordAuthType ?? ''} does not apply to ${input.engine}`);
  return { kind: 'password', method, credential };
}

/** The password method of an auth type, with AWS's defaults (SCRAM for PostgreSQL, caching_sha2 for MySQL). */
export function passwordMethod(engine: ProxyEngine, type: ClientPasswordAuthType | undefined): ProxyPasswordMethod | undefined {
  if (engine === 'postgres') {
    if (type === undefined || type === 'POSTGRES_SCRAM_SHA_256') return 'SCRAM-SHA-256';
    return type === 'POSTGRES_MD5' ? 'MD5' : undefined;
  }
  if (type === undefined || type === 'MYSQL_CACHING_SHA2_PASSWORD') return 'caching_sha2_password';
  return type === 'MYSQL_NATIVE_PASSWORD' ? 'mysql_native_password' : undefined;
}

/**
 * The resource a client's token is authorized on: the proxy's resource id
 * (`prx-…`) in place of the instance's, as RDS Proxy has it
 * (`arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-ABCDEFGHIJKL01234/db_user`).
 */
export function proxyDbUserArn(p: { partition: string; region: string; account: string; proxyResourceId: string; dbUser: string }): string {
  return dbUserArn({ partition: p.partition, region: p.region, account: p.account, resourceId: p.proxyResourceId, dbUser: p.dbUser });
}

function refuse(failure: ProxyWireFailure, detail?: string, reason?: string): ProxyLoginDecision {
  return { kind: 'refuse', failure, reason: reason ?? proxyAuditReason[failure.kind], ...(detail !== undefined ? { detail } : {}) };
}
