/**
 * The PostgreSQL wire protocol, pure: bytes in, typed messages out, and the
 * reverse. No sockets, no TLS, no timers; the gateway drives these pieces.
 *
 * - `StartupDecoder`: untyped startup packets (SSLRequest, GSSENCRequest,
 *   CancelRequest, StartupMessage), with `pendingBytes()` for the
 *   STARTTLS-injection check.
 * - `FrameDecoder`: typed messages, length-checked before buffering.
 * - `backend/*`, `frontend/*`: one encode/decode pair per message.
 * - `UpstreamLogin`: the gateway's client-side login (trust, cleartext, MD5,
 *   SCRAM-SHA-256[-PLUS]).
 *
 * @module
 */
export * from './codes.js';
export * from './backend/index.js';
export * from './frontend/index.js';
export { StartupDecoder, type StartupDecoderOptions } from './startup.js';
export { FrameDecoder, type Frame, type FrameDecoderOptions } from './frame-decoder.js';
export {
  ScramClient,
  ScramMechanism,
  SCRAM_MIN_ITERATIONS,
  SCRAM_MAX_ITERATIONS,
  SCRAM_MAX_SERVER_MESSAGE_BYTES,
  SCRAM_MAX_NONCE_CHARS,
  SCRAM_MAX_SALT_BYTES,
  SCRAM_CLIENT_NONCE_BYTES,
  type ScramChannelBinding,
  type ScramClientOptions,
  type ScramState,
} from './scram.js';
export { saslprep } from './saslprep.js';
export {
  ScramServer,
  createScramVerifier,
  PROXY_SCRAM_ITERATIONS,
  SCRAM_SERVER_SALT_BYTES,
  SCRAM_SERVER_NONCE_BYTES,
  SCRAM_MAX_CLIENT_MESSAGE_BYTES,
  type ScramVerifier,
  type ScramServerResult,
  type ScramServerState,
} from './scram-server.js';
export { md5Password, verifyMd5Password, createMd5Salt, MD5_SALT_BYTES } from './md5-password.js';
export { SaltedPasswordCache, computeSaltedPassword, type SaltedPasswordCacheOptions } from './salted-password-cache.js';
export {
  UpstreamLogin,
  UPSTREAM_STARTUP_PARAM_ALLOW_LIST,
  MAX_UPSTREAM_PARAMETERS,
  pickAllowedStartupParams,
  type UpstreamLoginOptions,
  type UpstreamLoginResult,
  type UpstreamLoginStep,
  type UpstreamLoginState,
  type UpstreamAuthMethod,
} from './upstream-login.js';
// Re-exported so gateway code can read message bodies without a second import path.
export { ByteReader, ByteWriter, PG_PRE_AUTH_MAX_MESSAGE_BYTES } from '../common/index.js';
/** @deprecated alias kept for early gateway code; use {@link ByteReader}. */
export { ByteReader as ByteReaderForBody } from '../common/index.js';
