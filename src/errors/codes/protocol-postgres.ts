import type { ErrorSpec } from '../types.js';

/** Error codes of the protocol-postgres domain. */
export const protocolPostgresCodes = {
} as const satisfies Record<string, ErrorSpec>;
