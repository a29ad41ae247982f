import type { ErrorSpec } from '../types.js';

/** Error codes of the RDS API (DB instances as the control plane shows them), with AWS's texts. */
export const rdsCodes = {
  /** DBInstanceNotFound. */
  RDS_DB_INSTANCE_NOT_FOUND: { kind: 'NotFound', message: 'DBInstance {id} not found.' },
  /** InvalidParameterValue / InvalidParameterCombination with AWS's text. */
  RDS_INVALID_PARAMETER: { kind: 'InvalidInput', message: '{message}' },
  /** The ARN given to a tagging action names no resource iamdb has. */
  RDS_RESOURCE_NOT_FOUND: { kind: 'NotFound', message: 'DBInstance {id} not found.' },
  /** DBInstanceAlreadyExists. */
  RDS_ALREADY_EXISTS: { kind: 'Conflict', message: 'DB instance already exists' },
} as const satisfies Record<string, ErrorSpec>;
