import { describe, expect, it } from 'vitest';
import { everySplit, typedFailure } from '../common/test-support.js';
import { FrameDecoder, type Frame } from './frame-decoder.js';

// Hand-built golden frames.
const AUTH_OK = Buffer.from('52' + '00000008' + '00000000', 'hex'); // 'R' len 8, code 0
const PARAM_STATUS = Buffer.from('53' + '00000018' + '536572766572456e636f64696e6700' + '5554463800', 'hex'); // 'S' len 24: ServerEncoding=UTF8
const KEY_DATA = Buffer.from('4b' + '0000000c' + '00003039' + 'deadbeef', 'hex'); // 'K' pid 12345
const READY = Buffer.from('5a' + '00000005' + '49', 'hex'); // 'Z' idle
const NO_DATA = Buffer.from('6e' + '00000004', 'hex'); // 'n' empty body

const STREAM = Buffer.concat([AUTH_OK, PARAM_STATUS, KEY_DATA, NO_DATA, READY]);

function decodeAll(chunks: Buffer[], max?: number): Array<{ type: string; body: string }> {
  const d = new FrameDecoder(max === undefined ? {} : { maxMessageBytes: max });
  const out: Array<{ type: string; body: string }> = [];
  for (const c of chunks) for (const f of d.feed(c)) out.push({ type: String.fromCharCode(f.type), body: f.body.toString('hex') });
  expect(d.pendingBytes()).toBe(0);
  return out;
}

describe('FrameDecoder', () => {
  it('decodes golden frames', () => {
    expect(decodeAll([STREAM])).toEqual([
      { type: 'R', body: '00000000' },
      { type: 'S', body: '536572766572456e636f64696e67005554463800' },
      { type: 'K', body: '00003039deadbeef' },
      { type: 'n', body: '' },
      { type: 'Z', body: '49' },
    ]);
  });

  it('yields the same frames split at every offset', () => {
    const expected = decodeAll([STREAM]);
    for (const { label, chunks } of everySplit(STREAM)) expect(decodeAll(chunks), label).toEqual(expected);
  });

  it('returns views into the chunk when a frame lies inside it (no copy)', () => {
    const d = new FrameDecoder();
    const frames = [...d.feed(STREAM)];
    expect(frames[2]!.body.buffer).toBe(STREAM.buffer);
  });

  it('rejects a length below 4 at the header', () => {
    for (const len of ['00000000', '00000003']) {
      const d = new FrameDecoder();
      expect(typedFailure(() => d.push(Buffer.from('51' + len, 'hex'))), len).toBe('PROTO_BAD_LENGTH');
    }
  });

  it('rejects oversized and wrapped lengths before waiting for the body', () => {
    for (const len of ['7fffffff', 'ffffffff', '80000000', '40000000']) {
      const d = new FrameDecoder();
      expect(typedFailure(() => d.push(Buffer.from('44' + len, 'hex'))), len).toBe('PROTO_MESSAGE_TOO_LARGE');
    }
  });

  it('rejects lengths over a configured cap; accepts exactly the cap', () => {
    const atCap = Buffer.concat([Buffer.from('6400000010', 'hex'), Buffer.alloc(12)]);
    expect(decodeAll([atCap], 16)).toHaveLength(1);
    const d = new FrameDecoder({ maxMessageBytes: 15 });
    expect(typedFailure(() => d.push(atCap.subarray(0, 5)))).toBe('PROTO_MESSAGE_TOO_LARGE');
  });

  it('checks a header split across chunks as soon as it completes', () => {
    const d = new FrameDecoder({ maxMessageBytes: 1024 });
    d.push(Buffer.from('44ff', 'hex'));
    expect(typedFailure(() => d.push(Buffer.from('ffffff', 'hex')))).toBe('PROTO_MESSAGE_TOO_LARGE');
  });

  it('buffers only what arrived for a large declared length', () => {
    const d = new FrameDecoder();
    d.push(Buffer.from('4430000000', 'hex')); // 768 MiB declared, under the 1 GiB cap
    d.push(Buffer.alloc(10));
    expect(d.next()).toBeUndefined();
    expect(d.pendingBytes()).toBe(15);
  });

  it('stays failed after an error', () => {
    const d = new FrameDecoder();
    expect(typedFailure(() => d.push(Buffer.from('5100000001', 'hex')))).toBe('PROTO_BAD_LENGTH');
    expect(typedFailure(() => d.push(READY))).toBe('PROTO_DECODER_FAILED');
  });

  it('hands over unconsumed bytes with takePending', () => {
    const d = new FrameDecoder();
    d.push(Buffer.concat([READY, AUTH_OK.subarray(0, 3)]));
    d.push(AUTH_OK.subarray(3, 6));
    const f = d.next() as Frame;
    expect(f.type).toBe(0x5a);
    expect(d.takePending()).toEqual(AUTH_OK.subarray(0, 6));
    expect(d.pendingBytes()).toBe(0);
    expect(d.atBoundary()).toBe(true);
  });

  it('rejects an invalid configured limit', () => {
    expect(typedFailure(() => new FrameDecoder({ maxMessageBytes: 2 ** 31 }))).toBe('PROTO_BAD_LIMIT');
    expect(typedFailure(() => new FrameDecoder({ maxMessageBytes: 4 }))).toBe('PROTO_BAD_LIMIT');
  });
});
