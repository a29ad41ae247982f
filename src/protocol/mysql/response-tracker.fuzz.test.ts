/**
 * Property tests of ResponseTracker (fast-check):
 * - generated exchanges (every response shape, both EOF modes, MariaDB
 *   metadata caching and progress reports, unsolicited ERRs) give exactly
 *   the events the generator expects, however the stream is cut;
 * - the recorded MariaDB exchanges give the same events at random cuts;
 * - arbitrary and mutated bytes raise only IamdbError and always finish.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IamdbError } from '../../errors/index.js';
import { ResponseTracker, type ResponseEvent } from './response-tracker.js';
import { capsArb, layOut, randomCommandsArb, scenarioArb, trackerFor } from './test-support/generated.js';
import { recordingNames, replayOf, trackerOptionsFor } from './test-support/recorded.js';
import { AUTOCOMMIT } from './test-support/responses.js';
import { cutAt, pushChunks } from './test-support/tracking.js';

/** Same fields in the same order as the tracker builds them, for a plain deep comparison. */
function normal(events: readonly ResponseEvent[]): unknown[] {
  return events.map((e) => JSON.parse(JSON.stringify(e, Object.keys(e).sort())));
}

function onlyIamdbErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof IamdbError)) throw err;
  }
}

describe('ResponseTracker properties', () => {
  it('reports exactly the generated responses, however the stream is cut', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { stream, events } = layOut(scenario);
        const t = trackerFor(scenario.caps, scenario.initialStatus, scenario.exchanges);
        const cuts = scenario.cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b);
        expect(normal(pushChunks(t, cutAt(stream, cuts)))).toEqual(normal(events));
        expect(t.idle).toBe(true);
        t.end();
      }),
      { numRuns: 500 },
    );
  });

  const replays = recordingNames().map((n) => replayOf(n));

  it('reports the same events for recorded exchanges cut at random offsets', () => {
    const expected = replays.map((r) => {
      const t = new ResponseTracker(trackerOptionsFor(r));
      for (const c of r.commands) t.sent(c.payload);
      return JSON.stringify(pushChunks(t, [r.server]));
    });
    fc.assert(
      fc.property(fc.nat(replays.length - 1), fc.array(fc.nat(), { maxLength: 30 }), (i, raw) => {
        const r = replays[i]!;
        const t = new ResponseTracker(trackerOptionsFor(r));
        for (const c of r.commands) t.sent(c.payload);
        const cuts = raw.map((c) => c % (r.server.length + 1)).sort((a, b) => a - b);
        expect(JSON.stringify(pushChunks(t, cutAt(r.server, cuts)))).toBe(expected[i]);
      }),
      { numRuns: 300 },
    );
  });

  const commandsArb = randomCommandsArb(6);

  it('throws only IamdbError on arbitrary server bytes, and finishes', () => {
    fc.assert(
      fc.property(capsArb, commandsArb, fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), (caps, commands, chunks) => {
        onlyIamdbErrors(() => {
          const t = trackerFor(caps, AUTOCOMMIT, []);
          for (const c of commands) onlyIamdbErrors(() => t.sent(c));
          for (const chunk of chunks) t.push(chunk);
          t.end();
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('throws only IamdbError on recorded exchanges with bytes changed, cut or added', () => {
    const small = replays.filter((r) => r.server.length < 64 * 1024);
    fc.assert(
      fc.property(
        fc.nat(small.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (i, flips, cut) => {
          const r = small[i]!;
          const server = Buffer.from(r.server);
          for (const [at, v] of flips) server[at % server.length] = v;
          onlyIamdbErrors(() => {
            const t = new ResponseTracker(trackerOptionsFor(r));
            for (const c of r.commands) t.sent(c.payload);
            t.push(server.subarray(0, cut % (server.length + 1)));
            t.push(server.subarray(cut % (server.length + 1)));
            t.end();
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
