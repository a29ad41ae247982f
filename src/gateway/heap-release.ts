/**
 * Gives V8's spare heap back to the system once a burst of logins is over.
 *
 * Why: every login allocates on the JavaScript heap (about 120 KB, most of
 * it garbage within milliseconds), and a burst of them grows V8's young
 * generation to its maximum (32 MiB on 64-bit Node 20) and promotes what was
 * in flight at each scavenge. When the burst ends, V8 keeps all of that
 * committed until its memory reducer runs, which it does only after some
 * major collections and may not do for minutes: with 3,000 idle clients that
 * was half of iamdb's memory per idle client (docs/performance.md). A plain
 * full collection does not help, as it leaves the young generation's size
 * alone; the collection V8 runs under memory pressure (native/v8_heap.cc)
 * shrinks it too, incrementally: steps of a few milliseconds between the
 * event loop's turns, not one long pause.
 *
 * When: the young generation has grown past `minYoungBytes` (a quiet
 * process's stays at 1 MiB), the event loop was nearly idle over the last
 * tick (the burst is over), and the last release was at least
 * `minIntervalMs` ago. Pooled and relayed traffic runs on the native data
 * path's own thread and is not touched.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';

export interface HeapReleaseRule {
  /** Release only when V8's young generation is at least this large. */
  readonly minYoungBytes: number;
  /** Release only when the event loop was busy at most this share of the last tick. */
  readonly maxBusy: number;
  /** At most one release per this many milliseconds. */
  readonly minIntervalMs: number;
}

export const HEAP_RELEASE_RULE: HeapReleaseRule = { minYoungBytes: 8 * 2 ** 20, maxBusy: 0.05, minIntervalMs: 10_000 };

/** What one tick saw. */
export interface HeapSample {
  readonly now: number;
  /** Event loop utilization since the previous tick, 0 to 1. */
  readonly busy: number;
  /** The young generation's current size in bytes (V8's new space). */
  readonly youngBytes: number;
}

export function shouldReleaseHeap(sample: HeapSample, lastReleaseAt: number, rule: HeapReleaseRule = HEAP_RELEASE_RULE): boolean {
  return sample.youngBytes >= rule.minYoungBytes && sample.busy <= rule.maxBusy && sample.now - lastReleaseAt >= rule.minIntervalMs;
}

/** The young generation's size: V8's `new_space`. */
export function youngGenerationBytes(): number {
  for (const space of getHeapSpaceStatistics()) if (space.space_name === 'new_space') return space.space_size;
  return 0;
}

/** Samples the process once per tick and releases the heap when `shouldReleaseHeap` says so. */
export class HeapRelease {
  readonly #release: () => void;
  readonly #rule: HeapReleaseRule;
  #elu: EventLoopUtilization = performance.eventLoopUtilization();
  #lastReleaseAt = Number.NEGATIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(release: () => void, rule: HeapReleaseRule = HEAP_RELEASE_RULE) {
    this.#release = release;
    this.#rule = rule;
  }

  /** Ticks every `tickMs` without keeping the process alive. */
  start(tickMs = 1000): void {
    if (this.#timer) return;
    this.#elu = performance.eventLoopUtilization();
    this.#timer = setInterval(() => this.tick(), tickMs);
    this.#timer.unref();
  }

  /** One sample; a release if it is time. `sample` replaces the process's own readings (tests). */
  tick(sample?: HeapSample): boolean {
    const s = sample ?? this.#sample();
    if (!shouldReleaseHeap(s, this.#lastReleaseAt, this.#rule)) return false;
    this.#release();
    this.#lastReleaseAt = s.now;
    return true;
  }

  #sample(): HeapSample {
    const now = performance.eventLoopUtilization();
    const busy = performance.eventLoopUtilization(now, this.#elu).utilization;
    this.#elu = now;
    return { now: performance.now(), busy, youngBytes: youngGenerationBytes() };
  }
}
