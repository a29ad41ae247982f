/**
 * SSLRequest and GSSENCRequest: 8-byte startup packets asking to upgrade the
 * connection. The server answers one byte; anything the client sent after
 * the request and before the TLS handshake must not be trusted (CVE-2021-23214).
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SSLREQUEST
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-GSSENCREQUEST
 * @module
 */
import { RequestCode } from '../codes.js';

/** Client asks for TLS. */
export interface SSLRequest {
  readonly type: 'SSLRequest';
}

/** Client asks for GSSAPI encryption (iamdb answers 'N'). */
export interface GSSENCRequest {
  readonly type: 'GSSENCRequest';
}

function requestPacket(code: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(8, 0);
  b.writeUInt32BE(code, 4);
  return b;
}

/** The 8 bytes of an SSLRequest (the gateway sends it upstream). */
export function encodeSSLRequest(): Buffer {
  return requestPacket(RequestCode.SSLRequest);
}

/** The 8 bytes of a GSSENCRequest. */
export function encodeGSSENCRequest(): Buffer {
  return requestPacket(RequestCode.GSSENCRequest);
}
