import { catalog, type ErrorCode } from './catalog.js';
import type { ErrorKind } from './types.js';

/** Values that may fill a message template. Secrets never belong here. */
export type ErrorDetails = Readonly<Record<string, string | number | boolean | undefined>>;

function render(template: string, details: ErrorDetails): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = details[name];
    return value === undefined ? whole : String(value);
  });
}

/**
 * The only error type iamdb throws. It carries a catalog code; the kind,
 * message and audit reason come from the catalog, never from the raise site.
 *
 * @example
 *   throw new IamdbError('AUTH_TOKEN_EXPIRED', { at: '2024-01-01T00:15:00Z' });
 */
export class IamdbError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly details: ErrorDetails;
  readonly audit: string | undefined;

  constructor(code: ErrorCode, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    const spec = catalog[code];
    super(render(spec.message, details), options);
    this.name = 'IamdbError';
    this.code = code;
    this.kind = spec.kind;
    this.details = details;
    this.audit = 'audit' in spec ? spec.audit : undefined;
  }
}

/** True when `err` is an IamdbError, optionally with the given code. */
export function isIamdbError(err: unknown, code?: ErrorCode): err is IamdbError {
  return err instanceof IamdbError && (code === undefined || err.code === code);
}
