import type { ErrorSpec } from '../types.js';

/** Error codes of the audit domain. */
export const auditCodes = {
} as const satisfies Record<string, ErrorSpec>;
