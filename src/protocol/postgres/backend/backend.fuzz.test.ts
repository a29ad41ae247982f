import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { typedFailure } from '../../common/test-support.js';
import { BackendCode } from '../codes.js';
import {
  decodeBackendMessage,
  encodeAuthentication,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeNoticeResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
  type BackendMessage,
} from './index.js';
import { FrameDecoder } from '../frame-decoder.js';

const noNul = fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0'));
const nonEmptyNoNul = noNul.filter((s) => s.length > 0);
const letter = fc.constantFrom('Z', 'G', 'Y', 'k', '1');

const messageArb: fc.Arbitrary<BackendMessage> = fc.oneof(
  fc.constant<BackendMessage>({ type: 'AuthenticationOk' }),
  fc.constant<BackendMessage>({ type: 'AuthenticationCleartextPassword' }),
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((s) => ({ type: 'AuthenticationMD5Password', salt: Buffer.from(s) }) as const),
  fc.array(nonEmptyNoNul.filter((s) => Buffer.byteLength(s) <= 64), { maxLength: 4 }).map((m) => ({ type: 'AuthenticationSASL', mechanisms: m }) as const),
  fc.uint8Array({ maxLength: 64 }).map((d) => ({ type: 'AuthenticationSASLContinue', data: Buffer.from(d) }) as const),
  fc.uint8Array({ maxLength: 64 }).map((d) => ({ type: 'AuthenticationSASLFinal', data: Buffer.from(d) }) as const),
  fc.record({ name: noNul, value: noNul }).map((p) => ({ type: 'ParameterStatus', ...p }) as const),
  fc
    .record({ processId: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), secretKey: fc.uint8Array({ minLength: 4, maxLength: 256 }) })
    .map((k) => ({ type: 'BackendKeyData', processId: k.processId, secretKey: Buffer.from(k.secretKey) }) as const),
  fc.constantFrom('I', 'T', 'E').map((status) => ({ type: 'ReadyForQuery', status }) as const),
  fc
    .record({ newestMinor: fc.integer({ min: 0, max: 10 }), unrecognizedOptions: fc.array(noNul, { maxLength: 4 }) })
    .map((n) => ({ type: 'NegotiateProtocolVersion', ...n }) as const),
  fc
    .record(
      {
        severity: noNul,
        code: noNul,
        message: noNul,
        detail: noNul,
        hint: noNul,
        other: fc.dictionary(letter, noNul, { maxKeys: 2 }),
      },
      { requiredKeys: ['severity', 'code', 'message'] },
    )
    .chain((fields) =>
      fc.constantFrom<BackendMessage>({ type: 'ErrorResponse', fields }, { type: 'NoticeResponse', fields }),
    ),
);

function encode(m: BackendMessage): Buffer {
  switch (m.type) {
    case 'ParameterStatus':
      return encodeParameterStatus(m);
    case 'BackendKeyData':
      return encodeBackendKeyData(m);
    case 'ReadyForQuery':
      return encodeReadyForQuery(m);
    case 'NegotiateProtocolVersion':
      return encodeNegotiateProtocolVersion(m);
    case 'ErrorResponse':
      return encodeErrorResponse(m.fields);
    case 'NoticeResponse':
      return encodeNoticeResponse(m.fields);
    case 'Unknown':
      throw new Error('not generated');
    default:
      return encodeAuthentication(m);
  }
}

function decode(bytes: Buffer): BackendMessage {
  const [frame] = [...new FrameDecoder().feed(bytes)];
  return decodeBackendMessage(frame!);
}

describe('backend messages fuzz', () => {
  it('decode(encode(m)) equals m', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const got = decode(encode(m));
        if ((m.type === 'ErrorResponse' || m.type === 'NoticeResponse') && m.fields.other && Object.keys(m.fields.other).length === 0) {
          const { other: _other, ...rest } = m.fields;
          expect(got).toEqual({ type: m.type, fields: rest });
        } else {
          expect(got).toEqual(m);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('throws only IamdbError for arbitrary bodies of every login type', () => {
    const types = [
      BackendCode.Authentication,
      BackendCode.BackendKeyData,
      BackendCode.ErrorResponse,
      BackendCode.NoticeResponse,
      BackendCode.NegotiateProtocolVersion,
      BackendCode.ParameterStatus,
      BackendCode.ReadyForQuery,
    ];
    fc.assert(
      fc.property(fc.constantFrom(...types), fc.uint8Array({ maxLength: 80 }), (type, body) => {
        typedFailure(() => decodeBackendMessage({ type, body: Buffer.from(body) }));
      }),
      { numRuns: 5000 },
    );
  });

  it('throws only IamdbError for mutated valid messages', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (m, at, byte) => {
        const bytes = encode(m);
        const i = 5 + (at % Math.max(1, bytes.length - 5));
        if (i < bytes.length) bytes[i] = byte;
        typedFailure(() => decodeBackendMessage({ type: bytes[0]!, body: bytes.subarray(5) }));
      }),
      { numRuns: 3000 },
    );
  });
});
