/**
 * TLS on an already-open socket, both ways: the server side when a client
 * asked for it (PostgreSQL SSLRequest, MySQL SSLRequest), the client side
 * toward the real server. Callers must have checked that no cleartext bytes
 * are pending before calling (STARTTLS injection).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { TLSSocket, checkServerIdentity, connect as tlsConnect, type SecureContext } from 'node:tls';
import { createHash } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import type { HostPort, TargetTls } from '../rds/index.js';

/** Wraps a client socket in server-side TLS and waits for the handshake. */
export function acceptTls(socket: Socket, secureContext: SecureContext, timeoutMs: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tlsSocket = new TLSSocket(socket, { isServer: true, secureContext, requestCert: false });
    const timer = setTimeout(() => {
      tlsSocket.destroy();
      reject(new IamdbError('GATEWAY_LOGIN_TIMEOUT', { phase: 'TLS handshake' }));
    }, timeoutMs);
    const fail = (err: Error): void => {
      clearTimeout(timer);
      tlsSocket.destroy();
      reject(new IamdbError('GATEWAY_TLS_HANDSHAKE_FAILED', { reason: (err as NodeJS.ErrnoException).code ?? 'handshake error' }, { cause: err }));
    };
    tlsSocket.once('error', fail);
    tlsSocket.once('close', () => fail(new Error('closed during TLS handshake')));
    tlsSocket.once('secure', () => {
      clearTimeout(timer);
      tlsSocket.off('error', fail);
      tlsSocket.removeAllListeners('close');
      tlsSocket.on('error', () => undefined);
      tlsSocket.setNoDelay(true);
      resolve(tlsSocket);
    });
  });
}

/**
 * The TLS options of a control link's driver (pg, mysql2) for `tls`, a mode
 * other than `disable`: the same verification the session links get from
 * connectUpstreamTls (`prefer` and `require` unverified).
 */
export function controlLinkTlsOptions(tls: TargetTls): { rejectUnauthorized: boolean; ca?: Buffer; checkServerIdentity?: () => undefined; servername?: string } {
  return {
    rejectUnauthorized: tls.mode === 'verify-ca' || tls.mode === 'verify-full',
    ...(tls.ca ? { ca: readCa(tls.ca) } : {}),
    ...(tls.mode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    ...(tls.serverName ? { servername: tls.serverName } : {}),
  };
}

/** CA bundles by path, read once (a changed file needs a restart, as for Node's links). */
const caCache = new Map<string, Buffer>();
export function readCa(path: string): Buffer {
  let ca = caCache.get(path);
  if (ca === undefined) {
    ca = readFileSync(path);
    caCache.set(path, ca);
  }
  return ca;
}

/**
 * Starts client-side TLS toward the real server on `socket`, verifying its
 * certificate as `tls.mode` says. Resolves with the TLS socket and the
 * tls-server-end-point channel binding data (RFC 5929) for SCRAM-PLUS.
 */
export function connectUpstreamTls(
  socket: Socket,
  target: HostPort,
  tls: TargetTls,
  timeoutMs: number,
): Promise<{ socket: TLSSocket; serverEndPoint: Buffer }> {
  return new Promise((resolve, reject) => {
    const servername = tls.serverName ?? target.host;
    const verify = tls.mode === 'verify-ca' || tls.mode === 'verify-full';
    const tlsSocket = tlsConnect({
      socket,
      ...(verify ? { ca: readCa(tls.ca!) } : {}),
      rejectUnauthorized: verify,
      // SNI must be a name, not an address.
      ...(/^[\d.]+$|:/.test(servername) ? {} : { servername }),
      checkServerIdentity: (host, cert) => (tls.mode === 'verify-full' ? checkServerIdentity(servername, cert) : undefined),
    });
    const timer = setTimeout(() => {
      tlsSocket.destroy();
      reject(new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target: `${target.host}:${target.port}`, reason: 'timeout' }));
    }, timeoutMs);
    tlsSocket.once('error', (err) => {
      clearTimeout(timer);
      tlsSocket.destroy();
      reject(new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target: `${target.host}:${target.port}`, reason: nodeTlsFailure(err as NodeJS.ErrnoException) }, { cause: err }));
    });
    tlsSocket.once('secureConnect', () => {
      clearTimeout(timer);
      tlsSocket.removeAllListeners('error');
      tlsSocket.on('error', () => undefined);
      tlsSocket.setNoDelay(true);
      resolve({ socket: tlsSocket, serverEndPoint: serverEndPointHash(tlsSocket) });
    });
  });
}

/**
 * How every upstream TLS failure reason starts when the server's certificate
 * did not verify (wrong CA, wrong name, expired), whichever TLS ran it: the
 * operator reads it in target health, audit records and logs.
 */
export const UNTRUSTED_CERTIFICATE = 'the server certificate is not trusted';

/** Node's codes for a certificate that did not verify (OpenSSL's X509_V_ERR_* names, and the name check). */
const NODE_VERIFY_CODE = /^(ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_|SELF_SIGNED_|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE|CERT_UNTRUSTED|CERT_REJECTED|HOSTNAME_MISMATCH)/;

function nodeTlsFailure(err: NodeJS.ErrnoException): string {
  if (err.code !== undefined && NODE_VERIFY_CODE.test(err.code)) return `${UNTRUSTED_CERTIFICATE}: ${err.message}`;
  return err.code ?? err.message;
}

/**
 * The same words for OpenSSL's verify failure as the native side reports it
 * ("certificate verify failed: <X509_verify_cert_error_string>"); other
 * reasons are returned as they are.
 */
export function nativeTlsFailure(reason: string, expectedName: string | undefined): string {
  const m = /^certificate verify failed: (.*)$/.exec(reason);
  if (m === null) return reason;
  const name = m[1] === 'hostname mismatch' || m[1] === 'IP address mismatch' ? ` (the name checked was ${expectedName ?? 'none'})` : '';
  return `${UNTRUSTED_CERTIFICATE}: ${m[1]}${name}`;
}

/** tls-server-end-point (as serverEndPointHash) from the certificate's DER. */
export function serverEndPointFromDer(der: Buffer): Buffer {
  return der.length === 0 ? Buffer.alloc(0) : createHash('sha256').update(der).digest();
}

/**
 * RFC 5929 tls-server-end-point: the SHA-256 hash of the server certificate.
 * RFC 5929 says to use SHA-256 for certificates signed with MD5 or SHA-1 and
 * the signature's own hash otherwise; servers sign with SHA-256 in practice,
 * and PostgreSQL (which computes the same value) refuses the login if not.
 */
export function serverEndPointHash(socket: TLSSocket): Buffer {
  const raw = socket.getPeerCertificate()?.raw;
  if (raw === undefined) return Buffer.alloc(0);
  return serverEndPointFromDer(raw);
}
