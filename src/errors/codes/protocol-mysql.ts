import type { ErrorSpec } from '../types.js';

/** Error codes of the protocol-mysql domain. */
export const protocolMysqlCodes = {
} as const satisfies Record<string, ErrorSpec>;
