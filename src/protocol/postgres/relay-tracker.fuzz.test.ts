import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutAt, cutsFor, typedFailure } from '../common/test-support.js';
import { encodeParameterStatus, encodeReadyForQuery } from './backend/index.js';
import { ClientStreamTracker, ServerStreamTracker } from './relay-tracker.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function scanServer(chunks: Buffer[]): { rfq: number; statuses: string[]; messages: number; boundary: boolean } {
  const t = new ServerStreamTracker();
  let rfq = 0;
  let messages = 0;
  const statuses: string[] = [];
  let boundary = true;
  for (const c of chunks) {
    const r = t.feed(c);
    rfq += r.readyForQuery;
    messages += r.messages;
    if (r.lastStatus) statuses.push(r.lastStatus);
    boundary = r.atBoundary;
  }
  return { rfq, statuses, messages, boundary };
}

describe('relay trackers fuzz', () => {
  const serverMsg = fc.oneof(
    fc.constantFrom('I', 'T', 'E').map((s) => encodeReadyForQuery({ status: s as 'I' | 'T' | 'E' })),
    fc.record({ name: fc.string({ maxLength: 8 }), value: fc.string({ maxLength: 8 }) }).filter((p) => !p.name.includes('\0') && !p.value.includes('\0')).map(encodeParameterStatus),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([hex('44'), Buffer.from([0, 0, 0, 4 + b.length]), b])),
  );

  it('counts the same at random cuts as in one piece', () => {
    fc.assert(
      fc.property(
        fc.array(serverMsg, { minLength: 1, maxLength: 10 }).chain((ms) => {
          const s = Buffer.concat(ms);
          return fc.tuple(fc.constant(ms), fc.constant(s), cutsFor(s.length));
        }),
        ([ms, stream, cuts]) => {
          const got = scanServer(cutAt(stream, cuts));
          const rfqs = ms.filter((m) => m[0] === 0x5a);
          expect(got.rfq).toBe(rfqs.length);
          expect(got.messages).toBe(ms.length);
          expect(got.boundary).toBe(true);
          if (rfqs.length > 0) expect(got.statuses.at(-1)).toBe(String.fromCharCode(rfqs.at(-1)![5]!));
        },
      ),
    );
  });

  it('throws only IamdbError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat({ max: 200 }), { maxLength: 5 }), (bytes, cuts) => {
        const s = new ServerStreamTracker({ maxMessageBytes: 64 });
        const c = new ClientStreamTracker({ maxMessageBytes: 64 });
        for (const chunk of cutAt(bytes, cuts)) {
          typedFailure(() => s.feed(chunk));
          typedFailure(() => c.feed(chunk));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
