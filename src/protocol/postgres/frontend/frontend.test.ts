import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../util/secret.js';
import { ByteReader } from '../../common/byte-reader.js';
import { typedFailure } from '../../common/test-support.js';
import { FrameDecoder } from '../frame-decoder.js';
import {
  decodePasswordMessage,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  decodeTerminate,
  encodePasswordMessage,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeTerminate,
} from './index.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function body(bytes: Buffer, what: string): ByteReader {
  const [f] = [...new FrameDecoder().feed(bytes)];
  return new ByteReader(f!.body, what);
}

describe('frontend messages', () => {
  it('PasswordMessage: golden bytes, and the password stays a Secret', () => {
    const golden = hex('70 00000009 7069636b00'); // 'p' len 9 "pick\0"
    expect(encodePasswordMessage({ password: new Secret('pick') })).toEqual(golden);
    const m = decodePasswordMessage(body(golden, 'PasswordMessage'));
    expect(m.password.reveal()).toBe('pick');
    expect(String(m.password)).toBe('[REDACTED]');
    expect(JSON.stringify(m)).not.toContain('pick');
  });

  it('PasswordMessage: rejects a missing NUL and trailing bytes', () => {
    expect(typedFailure(() => decodePasswordMessage(new ByteReader(Buffer.from('abc'))))).toBe('PROTO_TRUNCATED');
    expect(typedFailure(() => decodePasswordMessage(new ByteReader(Buffer.from('abc\0x'))))).toBe('PROTO_TRAILING_BYTES');
  });

  it('SASLInitialResponse: golden bytes and the -1 (no data) form', () => {
    // 'p' len 27: "SCRAM-SHA-256\0", int32 5, "n,,n="
    const golden = hex('70 0000001b 534352414d2d5348412d32353600 00000005 6e2c2c6e3d');
    expect(encodeSASLInitialResponse({ mechanism: 'SCRAM-SHA-256', data: Buffer.from('n,,n=') })).toEqual(golden);
    expect(decodeSASLInitialResponse(body(golden, 'SASLInitialResponse'))).toEqual({
      type: 'SASLInitialResponse',
      mechanism: 'SCRAM-SHA-256',
      data: Buffer.from('n,,n='),
    });
    const none = encodeSASLInitialResponse({ mechanism: 'X', data: null });
    expect(decodeSASLInitialResponse(body(none, 'SASLInitialResponse'))).toEqual({ type: 'SASLInitialResponse', mechanism: 'X', data: null });
  });

  it('SASLInitialResponse: the data length must match the body', () => {
    const bad = hex('5800 00000009 6e2c2c6e3d'); // says 9, has 5
    expect(typedFailure(() => decodeSASLInitialResponse(new ByteReader(bad)))).toBe('PROTO_BAD_LENGTH');
    const neg = hex('5800 fffffffe');
    expect(typedFailure(() => decodeSASLInitialResponse(new ByteReader(neg)))).toBe('PROTO_BAD_LENGTH');
  });

  it('SASLResponse and Terminate round-trip', () => {
    const r = encodeSASLResponse({ data: Buffer.from('c=biws') });
    expect(decodeSASLResponse(body(r, 'SASLResponse'))).toEqual({ type: 'SASLResponse', data: Buffer.from('c=biws') });
    expect(encodeTerminate()).toEqual(hex('58 00000004'));
    expect(decodeTerminate(body(encodeTerminate(), 'Terminate'))).toEqual({ type: 'Terminate' });
  });

  it('fuzz: frontend body decoders throw only IamdbError', () => {
    const decoders = [decodePasswordMessage, decodeSASLInitialResponse, decodeSASLResponse, decodeTerminate];
    fc.assert(
      fc.property(fc.constantFrom(...decoders), fc.uint8Array({ maxLength: 64 }), (decode, bytes) => {
        typedFailure(() => decode(new ByteReader(bytes)));
      }),
      { numRuns: 3000 },
    );
  });

  it('fuzz: SASLInitialResponse round-trips', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 256),
        fc.option(fc.uint8Array({ maxLength: 100 }), { nil: null }),
        (mechanism, data) => {
          const m = decodeSASLInitialResponse(body(encodeSASLInitialResponse({ mechanism, data }), 'x'));
          expect(m).toEqual({ type: 'SASLInitialResponse', mechanism, data: data === null ? null : Buffer.from(data) });
        },
      ),
    );
  });
});
