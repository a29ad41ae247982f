import type { ErrorSpec } from '../types.js';

/** Codes that belong to no single domain. */
export const generalCodes = {
  INTERNAL: { kind: 'Internal', audit: 'InternalError', message: 'internal error: {what}' },
  CONFIG_INVALID: { kind: 'InvalidInput', message: 'invalid configuration:\n{problems}' },
  CONFIG_UNREADABLE: { kind: 'InvalidInput', message: 'cannot read configuration file {path}: {reason}' },
  CLI_USAGE: { kind: 'InvalidInput', message: '{reason}' },
} as const satisfies Record<string, ErrorSpec>;
