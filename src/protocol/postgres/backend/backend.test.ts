import { describe, expect, it } from 'vitest';
import { typedFailure } from '../../common/test-support.js';
import { SqlState } from '../codes.js';
import { FrameDecoder } from '../frame-decoder.js';
import {
  decodeBackendMessage,
  encodeAuthentication,
  encodeAuthenticationCleartextPassword,
  encodeAuthenticationMD5Password,
  encodeAuthenticationOk,
  encodeAuthenticationSASL,
  encodeAuthenticationSASLContinue,
  encodeAuthenticationSASLFinal,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeNoticeResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
  type BackendMessage,
} from './index.js';

function decodeOne(bytes: Buffer): BackendMessage {
  const frames = [...new FrameDecoder().feed(bytes)];
  expect(frames).toHaveLength(1);
  return decodeBackendMessage(frames[0]!);
}

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Golden frames typed by hand from the Message Formats page.
const GOLDEN: Array<[string, Buffer, BackendMessage]> = [
  ['AuthenticationOk', hex('52 00000008 00000000'), { type: 'AuthenticationOk' }],
  ['AuthenticationCleartextPassword', hex('52 00000008 00000003'), { type: 'AuthenticationCleartextPassword' }],
  [
    'AuthenticationMD5Password',
    hex('52 0000000c 00000005 01020304'),
    { type: 'AuthenticationMD5Password', salt: hex('01020304') },
  ],
  [
    'AuthenticationSASL',
    // 'R' len 42, code 10, "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0"
    hex('52 0000002a 0000000a 534352414d2d5348412d3235362d504c555300 5343524 14d2d5348412d32353600 00'),
    { type: 'AuthenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
  ],
  ['AuthenticationSASLContinue', hex('52 0000000b 0000000b 723d61'), { type: 'AuthenticationSASLContinue', data: Buffer.from('r=a') }],
  ['AuthenticationSASLFinal', hex('52 0000000b 0000000c 763d62'), { type: 'AuthenticationSASLFinal', data: Buffer.from('v=b') }],
  ['ParameterStatus', hex('53 00000011 54696d655a6f6e6500 55544300'), { type: 'ParameterStatus', name: 'TimeZone', value: 'UTC' }],
  [
    'BackendKeyData',
    hex('4b 0000000c 00003039 deadbeef'),
    { type: 'BackendKeyData', processId: 12345, secretKey: hex('deadbeef') },
  ],
  ['ReadyForQuery', hex('5a 00000005 54'), { type: 'ReadyForQuery', status: 'T' }],
  [
    'NegotiateProtocolVersion',
    hex('76 00000014 00000000 00000001 5f70712e666f6f00'),
    { type: 'NegotiateProtocolVersion', newestMinor: 0, unrecognizedOptions: ['_pq.foo'] },
  ],
  [
    'ErrorResponse',
    // S FATAL, V FATAL, C 28P01, M bad, then terminator
    hex('45 0000001f 53464154414c00 5646415441 4c00 433238503031 00 4d62616400 00'),
    { type: 'ErrorResponse', fields: { severity: 'FATAL', severityNonLocalized: 'FATAL', code: '28P01', message: 'bad' } },
  ],
];

describe('backend messages: golden frames', () => {
  for (const [name, bytes, msg] of GOLDEN) {
    it(`decodes ${name}`, () => {
      expect(decodeOne(bytes)).toEqual(msg);
    });
  }

  it('encoders produce the golden bytes', () => {
    expect(encodeAuthenticationOk()).toEqual(GOLDEN[0]![1]);
    expect(encodeAuthenticationCleartextPassword()).toEqual(GOLDEN[1]![1]);
    expect(encodeAuthenticationMD5Password(hex('01020304'))).toEqual(GOLDEN[2]![1]);
    expect(encodeAuthenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])).toEqual(GOLDEN[3]![1]);
    expect(encodeAuthenticationSASLContinue(Buffer.from('r=a'))).toEqual(GOLDEN[4]![1]);
    expect(encodeAuthenticationSASLFinal(Buffer.from('v=b'))).toEqual(GOLDEN[5]![1]);
    expect(encodeParameterStatus({ name: 'TimeZone', value: 'UTC' })).toEqual(GOLDEN[6]![1]);
    expect(encodeBackendKeyData({ processId: 12345, secretKey: hex('deadbeef') })).toEqual(GOLDEN[7]![1]);
    expect(encodeReadyForQuery({ status: 'T' })).toEqual(GOLDEN[8]![1]);
    expect(encodeNegotiateProtocolVersion({ newestMinor: 0, unrecognizedOptions: ['_pq.foo'] })).toEqual(GOLDEN[9]![1]);
    expect(
      encodeErrorResponse({ severity: 'FATAL', severityNonLocalized: 'FATAL', code: SqlState.INVALID_PASSWORD, message: 'bad' }),
    ).toEqual(GOLDEN[10]![1]);
  });
});

describe('ErrorResponse and NoticeResponse', () => {
  it('round-trips every named field and unknown letters', () => {
    const fields = {
      severity: 'ERROR',
      severityNonLocalized: 'ERROR',
      code: '23505',
      message: 'duplicate key',
      detail: 'Key (id)=(1) exists.',
      hint: 'h',
      position: '3',
      internalPosition: '4',
      internalQuery: 'q',
      where: 'w',
      schema: 'public',
      table: 't',
      column: 'c',
      dataType: 'int4',
      constraint: 't_pkey',
      file: 'nbtinsert.c',
      line: '664',
      routine: '_bt_check_unique',
      other: { Z: 'future field' },
    };
    expect(decodeOne(encodeErrorResponse(fields))).toEqual({ type: 'ErrorResponse', fields });
    expect(decodeOne(encodeNoticeResponse(fields))).toEqual({ type: 'NoticeResponse', fields });
  });

  it('survives a server that omits severity, SQLSTATE and message', () => {
    expect(decodeOne(hex('45 00000005 00'))).toEqual({
      type: 'ErrorResponse',
      fields: { severity: 'ERROR', code: 'XX000', message: '' },
    });
    expect(decodeOne(hex('4e 00000005 00'))).toMatchObject({ fields: { severity: 'NOTICE' } });
  });

  it('keeps the first value of a repeated field', () => {
    expect(decodeOne(hex('45 0000000b 4d6100 4d6200 00'))).toMatchObject({ fields: { message: 'a' } });
  });

  it('rejects a field list without terminator or with trailing bytes', () => {
    const decode = (b: Buffer): string | undefined => typedFailure(() => decodeOne(b));
    expect(decode(hex('45 00000007 4d6100'))).toBe('PROTO_TRUNCATED'); // "Ma\0", no final 0
    expect(decode(hex('45 00000009 4d6100 00 ff'))).toBe('PROTO_TRAILING_BYTES');
  });
});

describe('backend messages: malformed bodies', () => {
  const bad: Array<[string, string, string]> = [
    ['AuthenticationOk with trailing bytes', '52 00000009 00000000 00', 'PROTO_TRAILING_BYTES'],
    ['short MD5 salt', '52 0000000b 00000005 010203', 'PROTO_TRUNCATED'],
    ['SASL list without terminator', '52 0000000c 0000000a 41424300', 'PROTO_TRUNCATED'],
    ['ReadyForQuery bad status', '5a 00000005 58', 'PROTO_MALFORMED_MESSAGE'],
    ['ReadyForQuery two bytes', '5a 00000006 4949', 'PROTO_TRAILING_BYTES'],
    ['BackendKeyData 3-byte key', '4b 0000000b 00003039 aabbcc', 'PROTO_BAD_LENGTH'],
    ['ParameterStatus missing value', '53 00000008 61626300', 'PROTO_TRUNCATED'],
    ['Negotiate count beyond body', '76 0000000c 00000000 000000ff', 'PROTO_MALFORMED_MESSAGE'],
    ['Negotiate negative count', '76 0000000c 00000000 ffffffff', 'PROTO_MALFORMED_MESSAGE'],
    ['Authentication with no code', '52 00000004', 'PROTO_TRUNCATED'],
  ];
  for (const [name, bytes, code] of bad) {
    it(`rejects ${name}`, () => {
      expect(typedFailure(() => decodeOne(hex(bytes)))).toBe(code);
    });
  }

  it('keeps Kerberos, GSS and SSPI requests as AuthenticationUnsupported', () => {
    expect(decodeOne(hex('52 00000008 00000007'))).toEqual({ type: 'AuthenticationUnsupported', code: 7, data: Buffer.alloc(0) });
    expect(encodeAuthentication({ type: 'AuthenticationUnsupported', code: 9, data: Buffer.alloc(0) })).toEqual(hex('52 00000008 00000009'));
  });

  it('returns other types as Unknown with a copy of the body', () => {
    expect(decodeOne(hex('43 00000009 53454c4500'))).toEqual({ type: 'Unknown', code: 0x43, bytes: hex('53454c4500') });
  });
});
