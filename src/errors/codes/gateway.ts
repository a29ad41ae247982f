import type { ErrorSpec } from '../types.js';

/** Error codes of the gateway: sessions, upstream links, logins. */
export const gatewayCodes = {
  GATEWAY_PEER_CLOSED: { kind: 'Unavailable', message: 'the peer closed the connection' },
  GATEWAY_LOGIN_TIMEOUT: { kind: 'Unavailable', audit: 'LoginTimeout', message: 'login did not complete in time ({phase})' },
  GATEWAY_TLS_HANDSHAKE_FAILED: { kind: 'ProtocolViolation', audit: 'ProtocolViolation', message: 'TLS handshake with the client failed: {reason}' },
  GATEWAY_BYTES_BEFORE_TLS: { kind: 'ProtocolViolation', audit: 'ProtocolViolation', message: 'the client sent {count} bytes after requesting TLS, before the handshake' },
  GATEWAY_NOT_AUTHORIZED: { kind: 'AccessDenied', audit: 'NotAuthorized', message: '{message}' },
  GATEWAY_EXPLICIT_DENY: { kind: 'AccessDenied', audit: 'ExplicitDeny', message: '{message}' },
  GATEWAY_UNKNOWN_ACCESS_KEY: { kind: 'AccessDenied', audit: 'UnknownAccessKey', message: 'access key {accessKeyId} does not exist' },
  GATEWAY_INACTIVE_ACCESS_KEY: { kind: 'AccessDenied', audit: 'InactiveAccessKey', message: 'access key {accessKeyId} is inactive' },
  GATEWAY_UPSTREAM_UNAVAILABLE: { kind: 'Unavailable', audit: 'UpstreamUnavailable', message: 'cannot reach the database server {target}: {reason}' },
  GATEWAY_UPSTREAM_TLS_FAILED: { kind: 'Unavailable', audit: 'UpstreamUnavailable', message: 'TLS to the database server {target} failed: {reason}' },
  GATEWAY_UPSTREAM_PROTOCOL: { kind: 'ProtocolViolation', audit: 'UpstreamUnavailable', message: 'the database server {target} answered out of protocol: {reason}' },
  GATEWAY_UPSTREAM_TLS_REQUIRED: {
    kind: 'AccessDenied',
    audit: 'UpstreamTlsRequired',
    message: 'the database server refused the login of {dbUser} for its TLS requirement: {requirement}',
  },
  GATEWAY_UPSTREAM_AUTH_FAILED: { kind: 'AccessDenied', audit: 'UpstreamAuthFailed', message: 'the database server refused the login of {dbUser}: {reason}' },
  GATEWAY_NATIVE_HANDOFF: { kind: 'Internal', message: 'cannot hand the connection to the native data path: {what}' },
  GATEWAY_NATIVE_UNAVAILABLE: { kind: 'Internal', message: 'gateway.dataPath is native but the native data path cannot be loaded: {reason}' },
  GATEWAY_SERVER_LOGINS_BUSY: {
    kind: 'Unavailable',
    audit: 'ServerLoginsBusy',
    message: 'no place for a server login became free in time ({size} logins in progress; gateway.maxServerLoginsInProgress)',
  },
  GATEWAY_UNSUPPORTED: { kind: 'InvalidInput', message: '{what} is not supported' },
} as const satisfies Record<string, ErrorSpec>;
