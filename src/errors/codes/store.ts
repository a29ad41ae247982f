import type { ErrorSpec } from '../types.js';

/** Error codes of the store domain. */
export const storeCodes = {
  STORE_VERSION_CONFLICT: {
    kind: 'Conflict',
    message: 'record {kind}/{id} is at version {actual}, expected {expected}; re-read it and retry',
  },
  STORE_UNAVAILABLE: {
    kind: 'Unavailable',
    message: 'state store at {path} is unavailable: {reason}',
  },
  STORE_CLOSED: { kind: 'Unavailable', message: 'state store is closed' },
  STORE_MIGRATION_FAILED: {
    kind: 'Internal',
    message: 'state store migration {step} ({name}) failed: {reason}',
  },
  STORE_SCHEMA_TOO_NEW: {
    kind: 'Unavailable',
    message: 'state store schema is at version {found} but this iamdb knows only up to {known}; upgrade iamdb',
  },
  STORE_CORRUPT_RECORD: { kind: 'Internal', message: 'record {kind}/{id} holds data that is not valid JSON' },
  STORE_INVALID_VALUE: { kind: 'InvalidInput', message: 'cannot store {kind}/{id}: {reason}' },
  STORE_TRANSACTION_MISUSE: {
    kind: 'Internal',
    message: '{operation} cannot be used here: {reason}',
  },
} as const satisfies Record<string, ErrorSpec>;
