import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutAt, cutsFor, typedFailure } from '../common/test-support.js';
import { encodeCancelRequest } from './frontend/cancel-request.js';
import { encodeSSLRequest } from './frontend/ssl-request.js';
import { encodeStartupMessage, type StartupPacket } from './frontend/startup-message.js';
import { StartupDecoder } from './startup.js';

// Seeds, hand-built in the shape libpq 15 sends them: SSLRequest; a
// StartupMessage (user alice, database db, application_name psql,
// client_encoding UTF8); a protocol-3.0 CancelRequest.
const SEEDS = [
  '0000000804d2162f',
  '0000004b000300007573657200616c696365006461746162617365006462006170706c69636174696f6e5f6e616d65007073716c00' +
    '636c69656e745f656e636f64696e6700555446380000',
  '0000001004d2162e000030390a0b0c0d',
].map((h) => Buffer.from(h, 'hex'));

function run(chunks: Buffer[]): StartupPacket[] {
  const d = new StartupDecoder();
  const out: StartupPacket[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
  }
  return out;
}

const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => !s.includes('\0'));
const value = fc.string({ unit: 'grapheme', maxLength: 40 }).filter((s) => !s.includes('\0'));
const startupArb = fc
  .tuple(name, fc.uniqueArray(fc.tuple(name, value), { maxLength: 8, selector: ([k]) => k }))
  .map(([user, rest]) => {
    const params = new Map<string, string>([['user', user]]);
    for (const [k, v] of rest) if (k !== 'user') params.set(k, v);
    return params;
  });
const packetArb = fc.oneof(
  fc.constant(encodeSSLRequest()),
  fc
    .record({ processId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), secretKey: fc.uint8Array({ minLength: 4, maxLength: 256 }) })
    .map((k) => encodeCancelRequest(k)),
  startupArb.map((params) => encodeStartupMessage({ params })),
);

describe('StartupDecoder fuzz', () => {
  it('decodes the seeds', () => {
    expect(run(SEEDS).map((p) => p.type)).toEqual(['SSLRequest', 'StartupMessage', 'CancelRequest']);
  });

  it('throws only IamdbError on arbitrary bytes, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.constantFrom(...SEEDS),
          fc.tuple(fc.constantFrom(...SEEDS), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([s, i, b]) => {
            const m = Buffer.from(s);
            m[i % m.length] = b;
            return m;
          }),
        ),
        fc.array(fc.nat({ max: 300 }), { maxLength: 6 }),
        (bytes, cuts) => {
          typedFailure(() => run(cutAt(bytes, cuts)));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('decode(encode(m)) equals m for StartupMessage', () => {
    fc.assert(
      fc.property(startupArb, (params) => {
        const [p] = run([encodeStartupMessage({ params })]);
        expect(p?.type).toBe('StartupMessage');
        if (p?.type === 'StartupMessage') expect(p.params).toEqual(params);
      }),
    );
  });

  it('yields the same packets at random cuts', () => {
    fc.assert(
      fc.property(
        fc.array(packetArb, { minLength: 1, maxLength: 4 }).chain((ps) => {
          const stream = Buffer.concat(ps);
          return fc.tuple(fc.constant(stream), cutsFor(stream.length));
        }),
        ([stream, cuts]) => {
          expect(run(cutAt(stream, cuts))).toEqual(run([stream]));
        },
      ),
    );
  });

  it('never buffers past the cap while waiting: a huge declared length fails with 4 bytes in', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10_001, max: 0xffffffff }), (len) => {
        const d = new StartupDecoder();
        const h = Buffer.alloc(4);
        h.writeUInt32BE(len);
        expect(typedFailure(() => d.push(h))).toBe('PROTO_MESSAGE_TOO_LARGE');
      }),
    );
  });
});
