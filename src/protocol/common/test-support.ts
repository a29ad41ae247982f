/**
 * Test-only helpers for codec tests: cutting a byte stream into chunks and
 * checking that failures are typed. Not exported from the index; imported by
 * `*.test.ts` files only.
 *
 * @module
 */
import fc from 'fast-check';
import { isIamdbError } from '../../errors/index.js';

/** Cuts `bytes` at the given offsets (sorted, deduplicated, clamped). Chunks are copies, so no test relies on shared memory. */
export function cutAt(bytes: Uint8Array, offsets: readonly number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => Math.max(0, Math.min(bytes.length, o))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of [...points, bytes.length]) {
    if (p > prev) out.push(Buffer.from(bytes.subarray(prev, p)));
    prev = Math.max(prev, p);
  }
  return out;
}

/** Every two-way split of `bytes` (offset 0 through length), plus byte-at-a-time. */
export function* everySplit(bytes: Uint8Array): Generator<{ label: string; chunks: Buffer[] }> {
  for (let i = 0; i <= bytes.length; i++) yield { label: `split at ${i}`, chunks: cutAt(bytes, [i]) };
  yield { label: 'one byte at a time', chunks: cutAt(bytes, Array.from({ length: bytes.length }, (_, i) => i)) };
}

/** A fast-check arbitrary of cut offsets for a stream of `length` bytes. */
export function cutsFor(length: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: Math.max(0, length) }), { maxLength: 12 });
}

/**
 * Runs `f` and returns the IamdbError code if it throws one. Any other throw
 * fails the test: decoders may only throw IamdbError.
 */
export function typedFailure(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    if (isIamdbError(err)) return err.code;
    throw new Error(`decoder threw a non-IamdbError: ${String(err)}`, { cause: err });
  }
}
