import type { ErrorSpec } from '../types.js';

/** Error codes of the store domain. */
export const storeCodes = {
} as const satisfies Record<string, ErrorSpec>;
