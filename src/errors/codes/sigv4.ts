import type { ErrorSpec } from '../types.js';

/** Error codes of the sigv4 domain. */
export const sigv4Codes = {
} as const satisfies Record<string, ErrorSpec>;
