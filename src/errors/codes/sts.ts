import type { ErrorSpec } from '../types.js';

/** Error codes of the sts domain. */
export const stsCodes = {
  STS_INVALID_SESSION_TOKEN: { kind: 'AccessDenied', audit: 'InvalidSessionToken', message: 'the security token presented with {accessKeyId} is invalid' },
  STS_SESSION_EXPIRED: { kind: 'AccessDenied', audit: 'ExpiredSessionCredentials', message: 'the temporary credentials {accessKeyId} expired at {at}' },
  STS_SESSION_REVOKED: { kind: 'AccessDenied', audit: 'ExpiredSessionCredentials', message: 'the temporary credentials {accessKeyId} were revoked' },
  STS_UNKNOWN_USER: { kind: 'AccessDenied', audit: 'UnknownPrincipal', message: 'the user behind {accessKeyId} no longer exists' },
  STS_UNKNOWN_ROLE: { kind: 'AccessDenied', audit: 'UnknownPrincipal', message: 'the role behind {accessKeyId} no longer exists' },
  /**
   * AccessDenied: the role's trust policy does not allow the caller (wrong principal, a missing or
   * wrong ExternalId, an unmet condition). The wire gets STS's text, which names no policy.
   */
  STS_TRUST_POLICY_DENIED: { kind: 'AccessDenied', audit: 'AccessDenied', message: '{message}' },
  /** PackedPolicyTooLarge: session policies and tags too large for a session token. */
  STS_PACKED_POLICY_TOO_LARGE: { kind: 'InvalidInput', message: 'Packed policy consumes {percent}% of allotted space, please use smaller policy for this request.' },
} as const satisfies Record<string, ErrorSpec>;
