import { describe, expect, it } from 'vitest';
import { HEAP_RELEASE_RULE, HeapRelease, shouldReleaseHeap, youngGenerationBytes } from './heap-release.js';
import { nativeDataPath } from './native-data-path.js';

const MiB = 2 ** 20;
const rule = { minYoungBytes: 8 * MiB, maxBusy: 0.05, minIntervalMs: 10_000 };

describe('shouldReleaseHeap', () => {
  it('releases a grown young generation once the event loop is quiet', () => {
    expect(shouldReleaseHeap({ now: 50_000, busy: 0.01, youngBytes: 32 * MiB }, Number.NEGATIVE_INFINITY, rule)).toBe(true);
  });

  it('waits while the event loop is busy (a login would wait behind the pause)', () => {
    expect(shouldReleaseHeap({ now: 50_000, busy: 0.2, youngBytes: 32 * MiB }, Number.NEGATIVE_INFINITY, rule)).toBe(false);
  });

  it('leaves a young generation that never grew alone', () => {
    expect(shouldReleaseHeap({ now: 50_000, busy: 0, youngBytes: 1 * MiB }, Number.NEGATIVE_INFINITY, rule)).toBe(false);
  });

  it('releases at most once per interval', () => {
    expect(shouldReleaseHeap({ now: 15_000, busy: 0, youngBytes: 32 * MiB }, 10_000, rule)).toBe(false);
    expect(shouldReleaseHeap({ now: 20_000, busy: 0, youngBytes: 32 * MiB }, 10_000, rule)).toBe(true);
  });
});

describe('HeapRelease', () => {
  it('calls the release when a tick says so, and not again within the interval', () => {
    let calls = 0;
    const h = new HeapRelease(() => calls++, rule);
    expect(h.tick({ now: 1_000, busy: 0.5, youngBytes: 32 * MiB })).toBe(false);
    expect(h.tick({ now: 2_000, busy: 0.01, youngBytes: 32 * MiB })).toBe(true);
    expect(h.tick({ now: 3_000, busy: 0.01, youngBytes: 32 * MiB })).toBe(false);
    expect(h.tick({ now: 12_000, busy: 0.01, youngBytes: 32 * MiB })).toBe(true);
    expect(calls).toBe(2);
  });
});

describe('the native low-memory collection', () => {
  it('shrinks a young generation that a burst of allocation grew', async () => {
    const { path, error } = nativeDataPath();
    if (!path) throw error;
    expect(path.heapRelease).toBeDefined();
    // Keep a window of short-lived objects alive across scavenges, as logins in flight do,
    // until V8 has grown the young generation past the rule's threshold.
    let window: object[] = [];
    for (let i = 0; youngGenerationBytes() < HEAP_RELEASE_RULE.minYoungBytes && i < 20_000_000; i++) {
      window.push({ i, s: `login ${i}` });
      if (window.length > 200_000) window = [];
    }
    window = [];
    const grown = youngGenerationBytes();
    expect(grown).toBeGreaterThanOrEqual(HEAP_RELEASE_RULE.minYoungBytes);
    const tick = { now: performance.now() + 3_600_000, busy: 0, youngBytes: grown };
    expect(path.heapRelease!.tick(tick)).toBe(true);
    // The collection runs in steps between the event loop's turns: wait for its end, bounded.
    const deadline = Date.now() + 20_000;
    while (youngGenerationBytes() >= HEAP_RELEASE_RULE.minYoungBytes && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(youngGenerationBytes()).toBeLessThan(HEAP_RELEASE_RULE.minYoungBytes);
  });
});
