import type { ErrorSpec } from '../types.js';

/** Error codes of the kms domain, with AWS KMS's texts; src/api/aws-errors.ts maps them to KMS's exception names. */
export const kmsCodes = {
  /** NotFoundException. */
  KMS_NOT_FOUND: { kind: 'NotFound', message: '{message}' },
  /** DisabledException. */
  KMS_DISABLED: { kind: 'Conflict', message: '{arn} is disabled.' },
  /** KMSInvalidStateException (pending deletion, wrong state for the operation). */
  KMS_INVALID_STATE: { kind: 'Conflict', message: '{arn} is pending deletion.' },
  /** InvalidCiphertextException: altered, truncated, or another context. AWS says nothing more; nor do we. */
  KMS_INVALID_CIPHERTEXT: { kind: 'InvalidInput', message: 'The ciphertext is invalid or was not encrypted under this context.' },
  /** IncorrectKeyException: the KeyId given to Decrypt is not the key that encrypted. */
  KMS_INCORRECT_KEY: { kind: 'InvalidInput', message: 'The key ID in the request does not identify a CMK that can perform this operation.' },
  /** AlreadyExistsException for aliases. */
  KMS_ALREADY_EXISTS: { kind: 'Conflict', message: 'An alias with the name {alias} already exists' },
  /** ValidationException / InvalidAliasNameException / other parameter problems. */
  KMS_INVALID_INPUT: { kind: 'InvalidInput', message: '{message}' },
} as const satisfies Record<string, ErrorSpec>;
