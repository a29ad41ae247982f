import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutAt, cutsFor, typedFailure } from '../common/test-support.js';
import { FrameDecoder } from './frame-decoder.js';

/** A well-formed frame: type byte, length, body. */
export const frameArb = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 }))
  .map(([type, body]) => {
    const b = Buffer.alloc(5 + body.length);
    b[0] = type;
    b.writeUInt32BE(4 + body.length, 1);
    b.set(body, 5);
    return b;
  });

function decode(chunks: Buffer[], max = 1 << 20): string[] {
  const d = new FrameDecoder({ maxMessageBytes: max });
  const out: string[] = [];
  for (const c of chunks) for (const f of d.feed(c)) out.push(`${f.type}:${f.body.toString('hex')}`);
  return out;
}

describe('FrameDecoder fuzz', () => {
  it('throws only IamdbError on arbitrary bytes and chunking', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat({ max: 200 }), { maxLength: 6 }), fc.integer({ min: 5, max: 300 }), (bytes, cuts, max) => {
        typedFailure(() => decode(cutAt(bytes, cuts), max));
      }),
      { numRuns: 3000 },
    );
  });

  it('yields the same frames at random cuts', () => {
    fc.assert(
      fc.property(
        fc.array(frameArb, { minLength: 1, maxLength: 8 }).chain((fs) => {
          const stream = Buffer.concat(fs);
          return fc.tuple(fc.constant(fs), fc.constant(stream), cutsFor(stream.length));
        }),
        ([frames, stream, cuts]) => {
          const got = decode(cutAt(stream, cuts));
          expect(got).toEqual(frames.map((f) => `${f[0]}:${f.subarray(5).toString('hex')}`));
        },
      ),
    );
  });

  it('rejects any declared length over the cap from the header alone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1025, max: 0xffffffff }), (type, len) => {
        const h = Buffer.alloc(5);
        h[0] = type;
        h.writeUInt32BE(len, 1);
        const d = new FrameDecoder({ maxMessageBytes: 1024 });
        expect(typedFailure(() => d.push(h))).toBe('PROTO_MESSAGE_TOO_LARGE');
      }),
    );
  });
});
