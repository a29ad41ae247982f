import type { ErrorSpec } from '../types.js';

/** Error codes of the secrets domain, with Secrets Manager's texts; src/api/aws-errors.ts maps them to its exception names. */
export const secretsCodes = {
  /** ResourceNotFoundException. */
  SM_NOT_FOUND: { kind: 'NotFound', message: "Secrets Manager can't find the specified secret." },
  /** ResourceNotFoundException for a version or staging label. */
  SM_VERSION_NOT_FOUND: { kind: 'NotFound', message: "Secrets Manager can't find the specified secret value for {what}" },
  /** ResourceExistsException. */
  SM_EXISTS: { kind: 'Conflict', message: 'The operation failed because the secret {name} already exists.' },
  /**
   * InvalidRequestException: CreateSecret with a name that is the tail of another secret's ARN
   * (`app/db-Dl4RXQ` while `app/db` is `…:secret:app/db-Dl4RXQ`). AWS warns against such names;
   * iamdb refuses them, so that a name is never mistaken for another secret's ARN.
   */
  SM_NAME_IS_ANOTHER_ARN: {
    kind: 'Conflict',
    message: "You can't create a secret named {name} because another secret's ARN ends in that name. Don't end a secret name with a hyphen followed by six characters.",
  },
  /** InvalidRequestException: the secret's state forbids the operation (marked for deletion, …). */
  SM_INVALID_REQUEST: { kind: 'InvalidInput', message: '{message}' },
  /** InvalidParameterException. */
  SM_INVALID_PARAMETER: { kind: 'InvalidInput', message: '{message}' },
  /** DecryptionFailure: a stored value did not open (its key changed or the record was altered). */
  SM_DECRYPTION_FAILURE: { kind: 'Internal', message: "Secrets Manager can't decrypt the protected secret text using the provided KMS key." },
} as const satisfies Record<string, ErrorSpec>;
