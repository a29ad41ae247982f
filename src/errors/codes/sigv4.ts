import type { ErrorSpec } from '../types.js';

/**
 * Error codes of the sigv4 domain: RDS IAM auth tokens (AUTH_TOKEN_*) and
 * header-signed API requests (REQUEST_*).
 *
 * Malformed tokens are `InvalidInput` with audit reason `InvalidToken`;
 * well-formed tokens that fail a check are `AccessDenied` with a precise audit
 * reason. Messages never quote the token, its signature, its security token
 * or any secret; only short, non-secret fields (a key name, a host, a region)
 * may appear.
 */
export const sigv4Codes = {
  AUTH_TOKEN_TOO_LONG: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token is {length} characters long; the limit is {max}',
  },
  AUTH_TOKEN_BAD_LAYOUT: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token is not of the form <host>:<port>/?<query>: {reason}',
  },
  AUTH_TOKEN_BAD_HOST: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token host is not a valid host name: {reason}',
  },
  AUTH_TOKEN_BAD_PORT: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token port must be a decimal number from 1 to 65535 without sign or leading zero',
  },
  AUTH_TOKEN_BAD_ENCODING: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token query is not strictly percent-encoded: {reason} at offset {offset}',
  },
  AUTH_TOKEN_CONTROL_CHARACTER: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token query contains a control character (U+{codePoint})',
  },
  AUTH_TOKEN_EMPTY_KEY: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token query has an empty parameter name',
  },
  AUTH_TOKEN_EMPTY_VALUE: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token parameter {key} is empty',
  },
  AUTH_TOKEN_DUPLICATE_KEY: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token parameter {key} appears more than once',
  },
  AUTH_TOKEN_UNKNOWN_KEY: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token has a parameter that is not allowed: {key}',
  },
  AUTH_TOKEN_MISSING_KEY: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token lacks the required parameter {key}',
  },
  AUTH_TOKEN_BAD_ACTION: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token Action must be "connect"',
  },
  AUTH_TOKEN_BAD_ALGORITHM: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Algorithm must be "AWS4-HMAC-SHA256"',
  },
  AUTH_TOKEN_BAD_SIGNED_HEADERS: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-SignedHeaders must be exactly "host"',
  },
  AUTH_TOKEN_BAD_CREDENTIAL: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message:
      'auth token X-Amz-Credential must be <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request: {reason}',
  },
  AUTH_TOKEN_SCOPE_DATE_MISMATCH: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token credential scope date differs from the day of X-Amz-Date',
  },
  AUTH_TOKEN_BAD_DATE: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Date must be a real UTC time written YYYYMMDDTHHMMSSZ',
  },
  AUTH_TOKEN_EXPIRES_NOT_INTEGER: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Expires must be a decimal integer of seconds from 1 to {max}',
  },
  AUTH_TOKEN_EXPIRES_NEGATIVE: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Expires is negative; it must be from 1 to {max} seconds',
  },
  AUTH_TOKEN_EXPIRES_ZERO: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Expires is 0; it must be from 1 to {max} seconds',
  },
  AUTH_TOKEN_EXPIRES_TOO_LONG: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Expires is over {max} seconds; RDS IAM tokens live at most 15 minutes',
  },
  AUTH_TOKEN_BAD_SIGNATURE_FORMAT: {
    kind: 'InvalidInput',
    audit: 'InvalidToken',
    message: 'auth token X-Amz-Signature must be 64 lowercase hexadecimal digits',
  },
  AUTH_TOKEN_EXPIRED: {
    kind: 'AccessDenied',
    audit: 'ExpiredToken',
    message: 'auth token expired at {at}; generate a new one',
  },
  AUTH_TOKEN_NOT_YET_VALID: {
    kind: 'AccessDenied',
    audit: 'FutureToken',
    message: 'auth token is dated {at}, beyond the allowed clock skew of {skewSeconds} s; check the client clock',
  },
  AUTH_TOKEN_WRONG_ENDPOINT: {
    kind: 'AccessDenied',
    audit: 'WrongEndpoint',
    message: 'auth token was signed for {endpoint}, which is not an endpoint of this listener',
  },
  AUTH_TOKEN_WRONG_REGION: {
    kind: 'AccessDenied',
    audit: 'WrongRegion',
    message: 'auth token was signed for region {region}; this endpoint is in {expected}',
  },
  AUTH_TOKEN_WRONG_SERVICE: {
    kind: 'AccessDenied',
    audit: 'WrongService',
    message: 'auth token was signed for service {service}; IAM database tokens use rds-db',
  },
  AUTH_TOKEN_DBUSER_MISMATCH: {
    kind: 'AccessDenied',
    audit: 'DBUserMismatch',
    message: 'auth token DBUser is not the user logging in (the comparison is case-sensitive)',
  },
  AUTH_TOKEN_SIGNATURE_MISMATCH: {
    kind: 'AccessDenied',
    audit: 'SignatureMismatch',
    message: 'auth token signature does not match',
  },
  REQUEST_AUTH_MISSING: {
    kind: 'AccessDenied',
    message: 'the request is not signed (no Authorization header)',
  },
  REQUEST_AUTH_MALFORMED: {
    kind: 'InvalidInput',
    message: 'the request signature is malformed: {reason}',
  },
  REQUEST_EXPIRED: {
    kind: 'AccessDenied',
    message: 'the request time {requestTime} is more than 15 minutes from the server time {serverTime}',
  },
  REQUEST_WRONG_REGION: {
    kind: 'AccessDenied',
    message: "Credential should be scoped to a valid region, not '{region}'.",
  },
  REQUEST_UNSIGNED_HEADER: {
    kind: 'InvalidInput',
    message: 'The {header} header must be signed.',
  },
  REQUEST_SIGNATURE_MISMATCH: {
    kind: 'AccessDenied',
    message: 'the request signature does not match',
  },
  SIGV4_INVALID_INPUT: {
    kind: 'InvalidInput',
    message: 'cannot sign: {reason}',
  },
} as const satisfies Record<string, ErrorSpec>;
