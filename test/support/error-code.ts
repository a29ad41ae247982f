/**
 * The catalog code a call fails with, for tests that assert typed errors:
 * `undefined` when it does not throw; anything that is not an IamdbError is
 * rethrown so a bug cannot pass for the expected refusal.
 */
import { isIamdbError, type ErrorCode } from '../../src/errors/index.js';

export function errorCodeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    if (isIamdbError(err)) return err.code;
    throw err;
  }
  return undefined;
}

export async function errorCodeOfAsync(p: Promise<unknown>): Promise<ErrorCode | undefined> {
  try {
    await p;
  } catch (err) {
    if (isIamdbError(err)) return err.code;
    throw err;
  }
  return undefined;
}
