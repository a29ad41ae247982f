/**
 * The one error catalog. Each domain keeps its codes in `codes/<domain>.ts`
 * (so parallel work never collides in one file); this module merges them and
 * is the only place code names are looked up. docs/errors.md is checked
 * against it by a test.
 */
import type { ErrorSpec } from './types.js';
import { generalCodes } from './codes/general.js';

export const catalog = {
  ...generalCodes,
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof catalog;
