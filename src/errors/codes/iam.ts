import type { ErrorSpec } from '../types.js';

/** Error codes of the iam domain. */
export const iamCodes = {
} as const satisfies Record<string, ErrorSpec>;
