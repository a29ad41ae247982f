/**
 * Messages a PostgreSQL client sends: encoders (the gateway uses them to log
 * in upstream) and decoders (the gateway's front door reads them).
 *
 * @module
 */
export {
  encodeStartupMessage,
  decodeStartupMessageBody,
  decodeStartupPacket,
  needsNegotiation,
  type ProtocolVersion,
  type StartupMessage,
  type StartupPacket,
} from './startup-message.js';
export { encodeSSLRequest, encodeGSSENCRequest, type SSLRequest, type GSSENCRequest } from './ssl-request.js';
export {
  encodeCancelRequest,
  decodeCancelRequest,
  checkCancelKey,
  MIN_CANCEL_KEY_BYTES,
  MAX_CANCEL_KEY_BYTES,
  type CancelRequest,
} from './cancel-request.js';
export { encodePasswordMessage, decodePasswordMessage, type PasswordMessage } from './password-message.js';
export {
  encodeSASLInitialResponse,
  decodeSASLInitialResponse,
  encodeSASLResponse,
  decodeSASLResponse,
  type SASLInitialResponse,
  type SASLResponse,
} from './sasl.js';
export { encodeTerminate, decodeTerminate, type Terminate } from './terminate.js';
export { encodeQuery } from './query.js';
