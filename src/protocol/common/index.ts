/**
 * Wire-format building blocks shared by the PostgreSQL and MySQL codecs:
 * a bounds-checked reader, a growable writer and the size limits.
 *
 * @module
 */
export { ByteReader, asBuffer, type CStringOptions } from './byte-reader.js';
export { ByteWriter, buildMessage } from './byte-writer.js';
export {
  PG_MAX_STARTUP_BYTES,
  PG_MIN_STARTUP_BYTES,
  PG_DEFAULT_MAX_MESSAGE_BYTES,
  PG_LOGIN_MAX_MESSAGE_BYTES,
  PG_MAX_IDENTIFIER_BYTES,
  PG_PRE_AUTH_MAX_MESSAGE_BYTES,
  MYSQL_PRE_AUTH_MAX_PACKET_BYTES,
  defaultPgLimits,
  resolvePgLimits,
  checkLimit,
  type PgLimits,
} from './limits.js';
