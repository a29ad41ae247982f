/**
 * Helpers for this folder's tests only: golden packets are written as hex
 * byte lists where '|' marks a TCP split seen in a capture (ignored here,
 * since every test also splits at every offset).
 */
import { IamdbError } from '../../../errors/index.js';

/** Bytes from "0a 00 | 00 01"-style hex; spaces, newlines and '|' are ignored. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/[\s|]/g, ''), 'hex');
}

/** Every way of cutting `bytes` into two chunks, plus one-byte chunks. */
export function* splits(bytes: Buffer): Generator<Buffer[]> {
  yield [bytes];
  for (let i = 1; i < bytes.length; i++) yield [bytes.subarray(0, i), bytes.subarray(i)];
  yield [...bytes].map((b) => Buffer.from([b]));
}

/** Runs fn and returns the IamdbError it throws; fails if it throws anything else or nothing. */
export function iamdbErrorOf(fn: () => unknown): IamdbError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IamdbError) return err;
    throw err;
  }
  throw new Error('expected an IamdbError');
}
