import type { ErrorSpec } from '../types.js';

/** Error codes of the crypto domain. Messages never quote key material or plaintext. */
export const cryptoCodes = {
  CRYPTO_MASTER_KEY_MISSING: {
    kind: 'Unavailable',
    message:
      'no master key: set IAMDB_MASTER_KEY (32 bytes as base64 or 64 hex characters) or provide a key file at {path}',
  },
  CRYPTO_MASTER_KEY_INVALID: {
    kind: 'InvalidInput',
    message: 'master key from {source} is invalid: {reason}',
  },
  CRYPTO_MASTER_KEY_INSECURE: {
    kind: 'InvalidInput',
    message:
      'master key file {path} is accessible to group or others (mode {mode}); run `chmod 600 {path}` and start again',
  },
  CRYPTO_MASTER_KEY_IN_STATE_DIR: {
    kind: 'InvalidInput',
    message:
      'master key file {path} is inside the state directory {stateDir}; keep it elsewhere so a copy of the state alone cannot be opened',
  },
  CRYPTO_MASTER_KEY_UNREADABLE: {
    kind: 'Unavailable',
    message: 'cannot read or create master key file {path}: {reason}',
  },
  CRYPTO_UNSEAL_FAILED: {
    kind: 'Internal',
    message: 'cannot open sealed value for {aad}: {reason}',
  },
  CRYPTO_INVALID_INPUT: { kind: 'InvalidInput', message: 'invalid crypto input: {reason}' },
} as const satisfies Record<string, ErrorSpec>;
