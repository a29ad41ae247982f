/**
 * Runs a response tracker over chunked input for this folder's tests, with
 * each event's `end` made absolute (offset in the whole stream), so runs
 * with different chunkings compare equal.
 */
import type { ResponseEvent, ResponseTracker } from '../response-tracker.js';
import { splits } from './hex.js';

/** Pushes the chunks in order; returns every event with `end` counted from the start of the stream. */
export function pushChunks(tracker: ResponseTracker, chunks: Iterable<Uint8Array>): ResponseEvent[] {
  const out: ResponseEvent[] = [];
  let base = 0;
  for (const chunk of chunks) {
    for (const e of tracker.push(chunk)) out.push({ ...e, end: base + e.end });
    base += chunk.length;
  }
  return out;
}

/** Cuts `bytes` at the given sorted offsets. */
export function cutAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const at of offsets) {
    if (at > from && at < bytes.length) {
      chunks.push(bytes.subarray(from, at));
      from = at;
    }
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/**
 * Runs a fresh tracker (from `make`, which also sends the commands) over the
 * whole stream, cut in two at every offset and in one-byte chunks, and
 * checks that every run reports the same events; returns them.
 */
export function eventsAtEverySplit(make: () => ResponseTracker, bytes: Buffer): ResponseEvent[] {
  const whole = pushChunks(make(), [bytes]);
  const expected = JSON.stringify(whole);
  for (const chunks of splits(bytes)) {
    const got = JSON.stringify(pushChunks(make(), chunks));
    if (got !== expected) {
      throw new Error(`events differ when cut at ${chunks.map((c) => c.length).join('+')}:\n${got}\nexpected\n${expected}`);
    }
  }
  return whole;
}
