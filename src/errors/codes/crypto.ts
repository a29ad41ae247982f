import type { ErrorSpec } from '../types.js';

/** Error codes of the crypto domain. */
export const cryptoCodes = {
} as const satisfies Record<string, ErrorSpec>;
