/**
 * What a proxy session reports as it goes, for metrics (RDS Proxy's
 * ClientConnections* family) and the process log. The pools' own counters
 * (borrowed, in transaction, pinned, queries, borrow latency) are read from
 * the native side (PostgresPool.snapshot); these are the client side.
 */
import type { MysqlPinReason } from './mysql-session-state.js';
import type { PinReason } from './session-state.js';

export interface ProxyConnectionEvents {
  /** A connection arrived (ClientConnectionsReceived). */
  received(): void;
  /** It set up TLS (ClientConnectionsTLS; the rest count as ClientConnectionsNoTLS). */
  tls(): void;
  /** Its login succeeded (ClientConnectionsSetupSucceeded; open: ClientConnections). */
  setupSucceeded(): void;
  /** Its login failed on authentication (ClientConnectionsSetupFailedAuth). */
  setupFailedAuth(): void;
  /** A logged-in client left (ClientConnectionsClosed). */
  closed(): void;
  /** It was pinned to its server connection (PostgreSQL's reasons or MySQL's). */
  pinned(reason: PinReason | MysqlPinReason): void;
}

/** For sessions nobody counts. */
export const NO_CONNECTION_EVENTS: ProxyConnectionEvents = Object.freeze({
  received: () => undefined,
  tls: () => undefined,
  setupSucceeded: () => undefined,
  setupFailedAuth: () => undefined,
  closed: () => undefined,
  pinned: () => undefined,
});

/** Refusals that count as ClientConnectionsSetupFailedAuth. */
/**
 * Refusals that count as ClientConnectionsSetupFailedAuth: RDS Proxy counts
 * attempts "that failed due to misconfigured authentication or TLS", so a
 * secret the proxy's role cannot read counts as well as a wrong password.
 */
export const AUTH_FAILURES: ReadonlySet<string> = new Set([
  'NoProxyCredentials', 'ProxyPasswordWrong', 'UnsupportedAuthMethod', 'TlsRequired',
  'NotAuthorized', 'ExplicitDeny', 'InvalidToken', 'ExpiredToken', 'FutureToken', 'WrongEndpoint', 'WrongRegion', 'WrongService', 'DBUserMismatch', 'SignatureMismatch',
  'UnknownAccessKey', 'InactiveAccessKey', 'InvalidSessionToken', 'ExpiredSessionCredentials', 'UnknownPrincipal',
  'RoleNotFound', 'RoleNotTrustedByRds', 'SecretAccessDenied', 'SecretNotFound', 'SecretUnavailable', 'KmsKeyUnusable', 'KmsDecryptDenied', 'SecretValueInvalid',
]);
