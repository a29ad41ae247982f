import type { ErrorSpec } from '../types.js';

/** Codes that belong to no single domain. */
export const generalCodes = {
  INTERNAL: { kind: 'Internal', audit: 'InternalError', message: 'internal error: {what}' },
  CONFIG_INVALID: { kind: 'InvalidInput', message: 'invalid configuration:\n{problems}' },
  CONFIG_UNREADABLE: { kind: 'InvalidInput', message: 'cannot read configuration file {path}: {reason}' },
  CLI_USAGE: { kind: 'InvalidInput', message: '{reason}' },
  /** The CLI could not reach the control plane. */
  CLI_UNAVAILABLE: { kind: 'Unavailable', message: 'cannot reach {what}: {reason}' },
  /** The control plane refused a CLI call; worded as the AWS CLI words service errors. */
  CLI_API_ERROR: { kind: 'InvalidInput', message: 'An error occurred ({code}) when calling the {action} operation: {message}' },
} as const satisfies Record<string, ErrorSpec>;
