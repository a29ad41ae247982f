import { describe, expect, it } from 'vitest';
import { cutAt, everySplit, typedFailure } from '../common/test-support.js';
import { encodeCancelRequest } from './frontend/cancel-request.js';
import { encodeSSLRequest, encodeGSSENCRequest } from './frontend/ssl-request.js';
import { encodeStartupMessage, type StartupPacket } from './frontend/startup-message.js';
import { StartupDecoder } from './startup.js';

// Hand-built golden packets (hex, with their meaning spelled out).
const SSL_REQUEST = Buffer.from('00000008' + '04d2162f', 'hex'); // length 8, 1234.5679
const GSSENC_REQUEST = Buffer.from('00000008' + '04d21630', 'hex'); // length 8, 1234.5680
const CANCEL_REQUEST = Buffer.from('00000010' + '04d2162e' + '00003039' + 'deadbeef', 'hex'); // pid 12345
const CANCEL_REQUEST_32 = Buffer.from('0000002c' + '04d2162e' + '00003039' + '11'.repeat(32), 'hex'); // 3.2, 32-byte key
const STARTUP = Buffer.from(
  '00000036' + // length 54
    '00030000' + // protocol 3.0
    '7573657200' + '616c69636500' + // user\0 alice\0
    '646174616261736500' + '646200' + // database\0 db\0
    '6170706c69636174696f6e5f6e616d6500' + '7073716c00' + // application_name\0 psql\0
    '00', // terminator
  'hex',
);

function drain(chunks: Buffer[]): StartupPacket[] {
  const d = new StartupDecoder();
  const out: StartupPacket[] = [];
  for (const c of chunks) {
    d.push(c);
    for (let p = d.next(); p !== undefined; p = d.next()) out.push(p);
  }
  expect(d.pendingBytes()).toBe(0);
  return out;
}

function codeFor(bytes: Buffer): string | undefined {
  return typedFailure(() => drain([bytes]));
}

describe('StartupDecoder golden packets', () => {
  it('decodes a StartupMessage with its parameters in order', () => {
    const [p] = drain([STARTUP]);
    expect(p).toEqual({
      type: 'StartupMessage',
      protocolVersion: { major: 3, minor: 0 },
      params: new Map([
        ['user', 'alice'],
        ['database', 'db'],
        ['application_name', 'psql'],
      ]),
      user: 'alice',
      database: 'db',
    });
  });

  it('decodes SSLRequest, GSSENCRequest and CancelRequest (3.0 and 3.2 keys)', () => {
    expect(drain([SSL_REQUEST])).toEqual([{ type: 'SSLRequest' }]);
    expect(drain([GSSENC_REQUEST])).toEqual([{ type: 'GSSENCRequest' }]);
    expect(drain([CANCEL_REQUEST])).toEqual([
      { type: 'CancelRequest', processId: 12345, secretKey: Buffer.from('deadbeef', 'hex') },
    ]);
    expect(drain([CANCEL_REQUEST_32])).toEqual([
      { type: 'CancelRequest', processId: 12345, secretKey: Buffer.alloc(32, 0x11) },
    ]);
  });

  it('encoders produce the golden bytes', () => {
    expect(encodeSSLRequest()).toEqual(SSL_REQUEST);
    expect(encodeGSSENCRequest()).toEqual(GSSENC_REQUEST);
    expect(encodeCancelRequest({ processId: 12345, secretKey: Buffer.from('deadbeef', 'hex') })).toEqual(CANCEL_REQUEST);
    expect(
      encodeStartupMessage({ params: { user: 'alice', database: 'db', application_name: 'psql' } }),
    ).toEqual(STARTUP);
  });

  it('yields the same packets however the stream is split', () => {
    const stream = Buffer.concat([CANCEL_REQUEST, GSSENC_REQUEST, STARTUP]);
    const expected = drain([stream]);
    expect(expected.map((p) => p.type)).toEqual(['CancelRequest', 'GSSENCRequest', 'StartupMessage']);
    for (const { label, chunks } of everySplit(stream)) {
      expect(drain(chunks), label).toEqual(expected);
    }
  });

  it('defaults database to the user name', () => {
    const p = drain([encodeStartupMessage({ params: { user: 'bob' } })])[0];
    expect(p).toMatchObject({ type: 'StartupMessage', user: 'bob', database: 'bob' });
  });

  it('passes a newer minor version up for negotiation', () => {
    const p = drain([encodeStartupMessage({ protocolVersion: { major: 3, minor: 7 }, params: { user: 'u' } })])[0];
    expect(p).toMatchObject({ protocolVersion: { major: 3, minor: 7 } });
  });
});

describe('StartupDecoder STARTTLS injection guard', () => {
  it('reports bytes that arrived in the same chunk after an SSLRequest', () => {
    const d = new StartupDecoder();
    d.push(Buffer.concat([SSL_REQUEST, STARTUP]));
    expect(d.next()).toEqual({ type: 'SSLRequest' });
    expect(d.pendingBytes()).toBe(STARTUP.length);
  });

  it('reports even a single injected byte', () => {
    const d = new StartupDecoder();
    d.push(Buffer.concat([SSL_REQUEST, Buffer.from('Q')]));
    expect(d.next()).toEqual({ type: 'SSLRequest' });
    expect(d.pendingBytes()).toBe(1);
  });

  it('reports zero when the SSLRequest stands alone', () => {
    const d = new StartupDecoder();
    d.push(SSL_REQUEST);
    expect(d.next()).toEqual({ type: 'SSLRequest' });
    expect(d.pendingBytes()).toBe(0);
  });

  it('hands leftover bytes after a StartupMessage to the caller', () => {
    const d = new StartupDecoder();
    d.push(Buffer.concat([STARTUP, Buffer.from('p\0\0\0\x08abc\0', 'latin1')]));
    expect(d.next()?.type).toBe('StartupMessage');
    expect(d.takePending().toString('latin1')).toBe('p\0\0\0\x08abc\0');
    expect(d.pendingBytes()).toBe(0);
  });
});

describe('StartupDecoder length checks', () => {
  it('rejects an oversized length as soon as the 4 length bytes arrive', () => {
    for (const len of ['7fffffff', 'ffffffff', '00002711' /* 10001 */]) {
      const d = new StartupDecoder();
      expect(typedFailure(() => d.push(Buffer.from(len, 'hex'))), len).toBe('PROTO_MESSAGE_TOO_LARGE');
    }
  });

  it('accepts exactly 10,000 bytes and honours a lower configured cap', () => {
    const pad = 'x'.repeat(10_000 - 8 - 'user\0u\0'.length - 'p\0'.length - 2);
    const packet = encodeStartupMessage({ params: { user: 'u', p: pad } });
    expect(packet.length).toBe(10_000);
    expect(drain([packet])[0]?.type).toBe('StartupMessage');
    const small = new StartupDecoder({ maxStartupBytes: 1000 });
    expect(typedFailure(() => small.push(packet.subarray(0, 4)))).toBe('PROTO_MESSAGE_TOO_LARGE');
  });

  it('rejects lengths below 8, including 0 and negative', () => {
    for (const len of ['00000000', '00000004', '00000007', '80000000']) {
      const d = new StartupDecoder();
      const code = typedFailure(() => d.push(Buffer.from(len, 'hex')));
      expect(code, len).toMatch(/PROTO_BAD_LENGTH|PROTO_MESSAGE_TOO_LARGE/);
    }
    expect(typedFailure(() => new StartupDecoder().push(Buffer.from('00000004', 'hex')))).toBe('PROTO_BAD_LENGTH');
  });

  it('waits, without error, for the rest of a declared packet', () => {
    const d = new StartupDecoder();
    d.push(STARTUP.subarray(0, 10));
    expect(d.next()).toBeUndefined();
    expect(d.pendingBytes()).toBe(10);
  });

  it('rejects SSLRequest and CancelRequest of the wrong size', () => {
    expect(codeFor(Buffer.from('0000000c04d2162f00000000', 'hex'))).toBe('PROTO_BAD_LENGTH');
    expect(codeFor(Buffer.from('0000000c04d2162e00003039', 'hex'))).toBe('PROTO_BAD_LENGTH'); // no key
    expect(codeFor(Buffer.from('0000000f04d2162e00003039aabbcc', 'hex'))).toBe('PROTO_BAD_LENGTH'); // 3-byte key
    const key257 = Buffer.concat([Buffer.from('0000010d04d2162e00003039', 'hex'), Buffer.alloc(257)]);
    expect(codeFor(key257)).toBe('PROTO_BAD_LENGTH');
    const key256 = Buffer.concat([Buffer.from('0000010c04d2162e00003039', 'hex'), Buffer.alloc(256)]);
    expect(drain([key256])[0]).toMatchObject({ type: 'CancelRequest' });
  });
});

describe('StartupDecoder parameter checks', () => {
  const packet = (version: string, body: string): Buffer => {
    const b = Buffer.from(body, 'latin1');
    const h = Buffer.alloc(8);
    h.writeUInt32BE(8 + b.length, 0);
    h.write(version, 4, 'hex');
    return Buffer.concat([h, b]);
  };

  it('rejects a parameter list without its final NUL', () => {
    expect(codeFor(packet('00030000', 'user\0alice\0'))).toBe('PROTO_BAD_STARTUP_PARAMS');
    expect(codeFor(packet('00030000', 'user\0alice'))).toBe('PROTO_BAD_STARTUP_PARAMS');
    expect(codeFor(packet('00030000', 'user'))).toBe('PROTO_BAD_STARTUP_PARAMS');
  });

  it('rejects bytes after the terminator', () => {
    expect(codeFor(packet('00030000', 'user\0alice\0\0x'))).toBe('PROTO_BAD_STARTUP_PARAMS');
  });

  it('rejects duplicate keys, so user cannot be given twice', () => {
    expect(codeFor(packet('00030000', 'user\0alice\0user\0root\0\0'))).toBe('PROTO_DUPLICATE_PARAM');
  });

  it('requires a non-empty user', () => {
    expect(codeFor(packet('00030000', 'database\0db\0\0'))).toBe('PROTO_MISSING_USER');
    expect(codeFor(packet('00030000', 'user\0\0\0'))).toBe('PROTO_MISSING_USER');
    expect(codeFor(packet('00030000', '\0'))).toBe('PROTO_MISSING_USER');
  });

  it('rejects invalid UTF-8 in names and values', () => {
    expect(codeFor(packet('00030000', 'user\0al\xffice\0\0'))).toBe('PROTO_BAD_ENCODING');
  });

  it('keeps injection-looking values verbatim', () => {
    const value = "x' OR 1=1; -- \r\n";
    const p = drain([packet('00030000', `user\0u\0application_name\0${value}\0\0`)])[0];
    expect(p).toMatchObject({ params: new Map([['user', 'u'], ['application_name', value]]) });
  });

  it('rejects protocol 2.0, 4.0 and unknown 1234.x request codes', () => {
    expect(codeFor(packet('00020000', 'user\0u\0\0'))).toBe('PROTO_UNSUPPORTED_VERSION');
    expect(codeFor(packet('00040000', 'user\0u\0\0'))).toBe('PROTO_UNSUPPORTED_VERSION');
    expect(codeFor(packet('04d21631', ''))).toBe('PROTO_UNSUPPORTED_VERSION');
  });

  it('stays failed after an error', () => {
    const d = new StartupDecoder();
    expect(typedFailure(() => d.push(Buffer.from('ffffffff', 'hex')))).toBe('PROTO_MESSAGE_TOO_LARGE');
    expect(typedFailure(() => d.push(SSL_REQUEST))).toBe('PROTO_DECODER_FAILED');
    expect(typedFailure(() => d.next())).toBe('PROTO_DECODER_FAILED');
  });

  it('fails on the first bad packet even when later bytes are fine', () => {
    expect(typedFailure(() => drain(cutAt(Buffer.concat([packet('00030000', 'user\0u\0'), STARTUP]), [3])))).toBe(
      'PROTO_BAD_STARTUP_PARAMS',
    );
  });
});
