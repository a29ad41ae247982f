/**
 * Shapes shared by every error code in the catalog.
 *
 * A code's `kind` says how edges render it (HTTP status, SQLSTATE family, exit
 * code); `audit` is the reason code written to the audit log when the error
 * decides an authentication; `message` is a template whose `{name}` holes are
 * filled from the error's details. Templates never name secrets: details that
 * hold tokens or passwords must not be referenced by a template.
 */
export type ErrorKind =
  | 'AccessDenied'
  | 'InvalidInput'
  | 'NotFound'
  | 'Conflict'
  | 'LimitExceeded'
  | 'Unavailable'
  | 'ProtocolViolation'
  | 'Internal';

export interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly message: string;
  /** Reason code for the audit log, when this error can decide a login. */
  readonly audit?: string;
}
