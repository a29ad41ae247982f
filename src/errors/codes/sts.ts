import type { ErrorSpec } from '../types.js';

/** Error codes of the sts domain. */
export const stsCodes = {
} as const satisfies Record<string, ErrorSpec>;
