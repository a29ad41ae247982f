import type { ErrorSpec } from '../types.js';

/** Error codes of the tls domain (iamdb's own certificate authority). */
export const tlsCodes = {
  TLS_CA_INVALID: {
    kind: 'Internal',
    message: 'stored certificate authority is unusable: {reason}; restore the state store or the master key',
  },
  TLS_CERT_REQUEST_INVALID: {
    kind: 'InvalidInput',
    message: 'cannot issue a server certificate: {reason}',
  },
  TLS_ISSUE_FAILED: { kind: 'Internal', message: 'issuing a certificate failed: {reason}' },
} as const satisfies Record<string, ErrorSpec>;
