/**
 * StartupMessage: the first packet of a session (after any SSLRequest), with
 * no type byte: Int32 length, Int32 protocol version, then name/value string
 * pairs and a final NUL.
 *
 * Also home of {@link decodeStartupPacket}, which tells the four untyped
 * startup-phase packets apart by their request code.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-STARTUPMESSAGE
 * @module
 */
import { IamdbError, isIamdbError } from '../../../errors/index.js';
import { ByteReader } from '../../common/byte-reader.js';
import { ByteWriter } from '../../common/byte-writer.js';
import { PG_MAX_STARTUP_BYTES, PG_MIN_STARTUP_BYTES } from '../../common/limits.js';
import { LATEST_PROTOCOL_MINOR, RequestCode } from '../codes.js';
import { decodeCancelRequest, type CancelRequest } from './cancel-request.js';
import type { GSSENCRequest, SSLRequest } from './ssl-request.js';

/** A protocol version as sent in the startup packet. */
export interface ProtocolVersion {
  readonly major: number;
  readonly minor: number;
}

/** A decoded StartupMessage. */
export interface StartupMessage {
  readonly type: 'StartupMessage';
  readonly protocolVersion: ProtocolVersion;
  /** Every parameter as sent, in order, `user` and `database` included. */
  readonly params: ReadonlyMap<string, string>;
  /** The `user` parameter; always present and non-empty once decoded. */
  readonly user: string;
  /** The `database` parameter, defaulting to `user` as PostgreSQL does. */
  readonly database: string;
}

/** Any packet of the untyped startup phase. */
export type StartupPacket = SSLRequest | GSSENCRequest | CancelRequest | StartupMessage;

/**
 * Encodes a StartupMessage. `user` should be first among `params` by custom,
 * but order is the caller's. Throws `PROTO_UNENCODABLE` on NUL in any string
 * or an empty name, and `PROTO_MESSAGE_TOO_LARGE` beyond 10,000 bytes (the
 * server would refuse it).
 *
 * @example
 *   encodeStartupMessage({ params: new Map([['user', 'app'], ['database', 'db']]) });
 */
export function encodeStartupMessage(msg: {
  protocolVersion?: ProtocolVersion;
  params: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
}): Buffer {
  const version = msg.protocolVersion ?? { major: 3, minor: 0 };
  const w = new ByteWriter(128);
  w.beginMessage();
  w.int32(((version.major & 0xffff) << 16) | (version.minor & 0xffff));
  const entries = msg.params instanceof Map ? msg.params.entries() : Object.entries(msg.params);
  for (const [name, value] of entries) {
    if (name === '') throw new IamdbError('PROTO_UNENCODABLE', { what: 'startup parameter', reason: 'empty name' });
    w.cstring(name, 'startup parameter name');
    w.cstring(value, `startup parameter ${name}`);
  }
  w.int8(0);
  w.endMessage();
  const out = w.finish();
  if (out.length > PG_MAX_STARTUP_BYTES) {
    throw new IamdbError('PROTO_MESSAGE_TOO_LARGE', {
      what: 'StartupMessage',
      length: out.length,
      limit: PG_MAX_STARTUP_BYTES,
    });
  }
  return out;
}

/**
 * Decodes the body of a StartupMessage: the reader is positioned just after
 * the protocol version word. Names and values must be valid UTF-8 (two byte
 * strings must never decode to the same user name), each name appears once,
 * the list ends with a NUL that is the packet's last byte, and `user` is
 * present and non-empty.
 */
export function decodeStartupMessageBody(r: ByteReader, protocolVersion: ProtocolVersion): StartupMessage {
  const params = new Map<string, string>();
  try {
    for (;;) {
      const name = r.cstring({ strict: true, what: 'startup parameter name' });
      if (name === '') break;
      const value = r.cstring({ strict: true, what: `startup parameter "${name.slice(0, 64)}"` });
      if (params.has(name)) throw new IamdbError('PROTO_DUPLICATE_PARAM', { name: name.slice(0, 64) });
      params.set(name, value);
    }
  } catch (err) {
    if (isIamdbError(err, 'PROTO_TRUNCATED')) {
      throw new IamdbError('PROTO_BAD_STARTUP_PARAMS', { reason: 'parameter list is not NUL-terminated' }, { cause: err });
    }
    throw err;
  }
  if (r.remaining !== 0) {
    throw new IamdbError('PROTO_BAD_STARTUP_PARAMS', { reason: `${r.remaining} bytes after the final terminator` });
  }
  const user = params.get('user');
  if (user === undefined || user === '') throw new IamdbError('PROTO_MISSING_USER');
  const database = params.get('database');
  return {
    type: 'StartupMessage',
    protocolVersion,
    params,
    user,
    database: database === undefined || database === '' ? user : database,
  };
}

/**
 * Decodes one complete startup-phase packet, length word included. The
 * length word must equal `packet.length`: the framer ({@link StartupDecoder})
 * guarantees it, direct callers must too.
 *
 * @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 */
export function decodeStartupPacket(packet: Uint8Array): StartupPacket {
  const r = new ByteReader(packet, 'startup packet');
  const length = r.uint32();
  if (length !== packet.length || length < PG_MIN_STARTUP_BYTES) {
    throw new IamdbError('PROTO_BAD_LENGTH', { length, what: 'startup packet' });
  }
  if (length > PG_MAX_STARTUP_BYTES) {
    throw new IamdbError('PROTO_MESSAGE_TOO_LARGE', { what: 'startup packet', length, limit: PG_MAX_STARTUP_BYTES });
  }
  const code = r.uint32();
  switch (code) {
    case RequestCode.SSLRequest:
    case RequestCode.GSSENCRequest:
      if (length !== 8) throw new IamdbError('PROTO_BAD_LENGTH', { length, what: 'SSLRequest/GSSENCRequest' });
      return { type: code === RequestCode.SSLRequest ? 'SSLRequest' : 'GSSENCRequest' };
    case RequestCode.CancelRequest:
      return decodeCancelRequest(r);
    default: {
      const major = code >>> 16;
      const minor = code & 0xffff;
      // 3.0 through 3.x: PostgreSQL answers a newer minor with
      // NegotiateProtocolVersion, so the minor is passed up, not judged here.
      if (major !== 3) throw new IamdbError('PROTO_UNSUPPORTED_VERSION', { major, minor });
      return decodeStartupMessageBody(r, { major, minor });
    }
  }
}

/** True when `minor` needs a NegotiateProtocolVersion reply from a server speaking 3.{@link LATEST_PROTOCOL_MINOR}. */
export function needsNegotiation(version: ProtocolVersion): boolean {
  return version.minor > LATEST_PROTOCOL_MINOR;
}
