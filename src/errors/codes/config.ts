import type { ErrorSpec } from '../types.js';

/** Error codes of the config domain. */
export const configCodes = {
} as const satisfies Record<string, ErrorSpec>;
