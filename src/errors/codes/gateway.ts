import type { ErrorSpec } from '../types.js';

/** Error codes of the gateway domain. */
export const gatewayCodes = {
} as const satisfies Record<string, ErrorSpec>;
