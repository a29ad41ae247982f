import type { ErrorSpec } from '../types.js';

/** Error codes of the tls domain. */
export const tlsCodes = {
} as const satisfies Record<string, ErrorSpec>;
