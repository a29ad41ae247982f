/**
 * SSLRequest: the first 32 bytes of a HandshakeResponse41 (capabilities with
 * CLIENT_SSL, max packet size, charset, filler), sent alone before the TLS
 * handshake.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_ssl_request.html
 * @see https://mariadb.com/kb/en/connection/#sslrequest-packet
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded SSLRequest. */
export interface SslRequest {
  readonly type: 'SSLRequest';
  readonly capabilityFlags: number;
  readonly maxPacketSize: number;
  readonly characterSet: number;
  /** MariaDB extended capabilities (last 4 filler bytes) when CLIENT_MYSQL is clear. */
  readonly mariadbCapabilities: number;
}

/** Exact payload length of an SSLRequest. */
export const SSL_REQUEST_LENGTH = 32;

const WHAT = 'SSLRequest';

/** Reads the 32-byte prefix shared by SSLRequest and HandshakeResponse41. */
export function readClientHandshakePrefix(r: PayloadReader): Omit<SslRequest, 'type'> {
  const capabilityFlags = r.readFixedLengthInteger(4);
  const maxPacketSize = r.readFixedLengthInteger(4);
  const characterSet = r.readFixedLengthInteger(1);
  r.skip(19);
  const ext = r.readFixedLengthInteger(4);
  const mariadbCapabilities = capabilityFlags & Capability.CLIENT_LONG_PASSWORD ? 0 : ext;
  return { capabilityFlags, maxPacketSize, characterSet, mariadbCapabilities };
}

/** Writes the 32-byte prefix shared by SSLRequest and HandshakeResponse41. */
export function writeClientHandshakePrefix(w: PayloadWriter, value: Omit<SslRequest, 'type'>): void {
  const caps = value.capabilityFlags >>> 0;
  w.writeFixedLengthInteger(caps, 4)
    .writeFixedLengthInteger(value.maxPacketSize, 4)
    .writeFixedLengthInteger(value.characterSet, 1)
    .writeZeros(19);
  if (caps & Capability.CLIENT_LONG_PASSWORD) w.writeZeros(4);
  else w.writeFixedLengthInteger(value.mariadbCapabilities >>> 0, 4);
}

/** Decodes an SSLRequest: exactly 32 bytes with CLIENT_SSL and CLIENT_PROTOCOL_41. */
export function decodeSslRequest(payload: Uint8Array): SslRequest {
  if (payload.length !== SSL_REQUEST_LENGTH) {
    throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: WHAT, reason: `length ${payload.length}, expected 32` });
  }
  const prefix = readClientHandshakePrefix(new PayloadReader(payload, WHAT));
  if (!(prefix.capabilityFlags & Capability.CLIENT_SSL)) {
    throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: WHAT, reason: 'CLIENT_SSL is not set' });
  }
  if (!(prefix.capabilityFlags & Capability.CLIENT_PROTOCOL_41)) {
    throw new IamdbError('PROTO_MYSQL_UNSUPPORTED', { what: WHAT, feature: 'protocol 3.20 (no CLIENT_PROTOCOL_41)' });
  }
  return { type: 'SSLRequest', ...prefix };
}

/** Encodes an SSLRequest; CLIENT_SSL and CLIENT_PROTOCOL_41 are added to the flags. */
export function encodeSslRequest(value: Omit<SslRequest, 'type'>): Buffer {
  const w = new PayloadWriter(WHAT, SSL_REQUEST_LENGTH);
  writeClientHandshakePrefix(w, {
    ...value,
    capabilityFlags: (value.capabilityFlags | Capability.CLIENT_SSL | Capability.CLIENT_PROTOCOL_41) >>> 0,
  });
  return w.finish();
}
