/**
 * The MySQL/MariaDB wire protocol, without sockets: bytes in, typed packets
 * out. See README.md for the boundary and limits.
 */
export * from './constants.js';
export { MYSQL_PRE_AUTH_MAX_PACKET_BYTES } from '../common/index.js';
export * from './errno.js';
export { PayloadReader, PayloadWriter } from './wire.js';
export { PacketFramer, encodePacket, nextSequenceId, type MysqlPacket, type PacketFramerOptions } from './packet-framer.js';
export {
  COMMAND_HEAD_BYTES,
  RESPONSE_HEAD_BYTES,
  ResponseTracker,
  commandDisposition,
  type CommandDisposition,
  type ResponseEnd,
  type ResponseEvent,
  type ResponseOutcome,
  type ResponseTrackerOptions,
  type SentCommand,
  type UnsolicitedPacket,
} from './response-tracker.js';

export { decodeHandshakeV10, encodeHandshakeV10, type HandshakeV10 } from './packets/handshake-v10.js';
export { SSL_REQUEST_LENGTH, decodeSslRequest, encodeSslRequest, type SslRequest } from './packets/ssl-request.js';
export {
  decodeClientHandshake,
  decodeHandshakeResponse41,
  encodeHandshakeResponse41,
  type HandshakeResponse41,
} from './packets/handshake-response-41.js';
export { decodeAuthSwitchRequest, encodeAuthSwitchRequest, type AuthSwitchRequest } from './packets/auth-switch-request.js';
export { decodeAuthSwitchResponse, encodeAuthSwitchResponse, type AuthSwitchResponse } from './packets/auth-switch-response.js';
export { decodeAuthMoreData, encodeAuthMoreData, type AuthMoreData } from './packets/auth-more-data.js';
export { decodeOkPacket, encodeOkPacket, isOkPacket, type OkPacket } from './packets/ok-packet.js';
export { decodeErrPacket, encodeErrPacket, errPacketFor, type ErrPacket } from './packets/err-packet.js';
export { decodeEofPacket, encodeEofPacket, isEofPacket, type EofPacket } from './packets/eof-packet.js';
export { decodeComChangeUser, encodeComChangeUser, decodeConnectAttributesBlock, encodeConnectAttributesBlock, type ComChangeUser } from './packets/com-change-user.js';
export { decodeComQuery, encodeComQuery, type ComQuery } from './packets/com-query.js';
export { statementIdOf, withStatementId, decodePrepareOk, rewritePrepareOkId, executeLayout, rewriteExecute, encodeStmtClose, type ExecuteLayout } from './stmt-packets.js';

export {
  NATIVE_PASSWORD_HASH_PATTERN,
  nativePasswordHash,
  scrambleNativePassword,
  verifyNativePassword,
  verifyNativePasswordWithCleartext,
} from './auth/native-password.js';
export {
  CACHING_SHA2_PASSWORD_HASH_PATTERN,
  CachingSha2,
  MAX_SERVER_PUBLIC_KEY_BYTES,
  cachingSha2PasswordHash,
  encryptPasswordForServer,
  isFastAuthSuccess,
  isFullAuthRequest,
  scrambleCachingSha2Password,
} from './auth/caching-sha2-password.js';
export { decodeClearPassword, encodeClearPassword } from './auth/clear-password.js';
export {
  CachingSha2Server,
  FastAuthCache,
  fastAuthAccount,
  type CachingSha2Refusal,
  type CachingSha2ServerOptions,
  type CachingSha2ServerStep,
} from './auth/caching-sha2-server.js';
export { createScramble } from './auth/scramble.js';

export {
  accountKey,
  accountMatchKey,
  credentialClause,
  type AccountDialect,
  backslashModeFromStatus,
  charsetOfCollationId,
  classifyStatement,
  isAsciiTransparentCharset,
  isAsciiTransparentCollationId,
  MAX_ACCOUNTS_PER_STATEMENT,
  MAX_VERIFIED_BYTES,
  needsClassification,
  NOT_ASCII_TRANSPARENT_COLLATION_IDS,
  type Account,
  type AccountEffect,
  type AccountRef,
  type AccountStatementName,
  type AccountVerdict,
  type AuthChange,
  type BackslashMode,
  type ByteSpan,
  type CharsetChange,
  type ClassifyCounters,
  type ClientCharsetReport,
  type ClassifyOptions,
  type KillVerdict,
  type NamedAccount,
  type OtherVerdict,
  type PasswordHashes,
  type SessionAccount,
  type StatementText,
  type StatementVerdict,
  type UnknownVerdict,
} from './account-statements.js';
