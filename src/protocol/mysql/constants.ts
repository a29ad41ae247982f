/**
 * MySQL/MariaDB wire constants: capability flags, MariaDB's extended
 * capabilities, command bytes, server status flags, packet headers, auth
 * plugin names and the limits this codec enforces.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html
 * @see https://mariadb.com/kb/en/connection/#capabilities
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
 */

/** Client/server capability flags (the 32-bit word of the handshake). */
export const Capability = {
  /** MySQL: new password hashing. MariaDB reads a clear bit 0 as "server is MariaDB" (CLIENT_MYSQL unset). */
  CLIENT_LONG_PASSWORD: 1 << 0,
  CLIENT_FOUND_ROWS: 1 << 1,
  CLIENT_LONG_FLAG: 1 << 2,
  CLIENT_CONNECT_WITH_DB: 1 << 3,
  CLIENT_NO_SCHEMA: 1 << 4,
  CLIENT_COMPRESS: 1 << 5,
  CLIENT_ODBC: 1 << 6,
  CLIENT_LOCAL_FILES: 1 << 7,
  CLIENT_IGNORE_SPACE: 1 << 8,
  CLIENT_PROTOCOL_41: 1 << 9,
  CLIENT_INTERACTIVE: 1 << 10,
  CLIENT_SSL: 1 << 11,
  CLIENT_IGNORE_SIGPIPE: 1 << 12,
  CLIENT_TRANSACTIONS: 1 << 13,
  CLIENT_RESERVED: 1 << 14,
  /** Also called CLIENT_RESERVED2 by MySQL 8; means 4.1 auth with length-prefixed scramble. */
  CLIENT_SECURE_CONNECTION: 1 << 15,
  CLIENT_MULTI_STATEMENTS: 1 << 16,
  CLIENT_MULTI_RESULTS: 1 << 17,
  CLIENT_PS_MULTI_RESULTS: 1 << 18,
  CLIENT_PLUGIN_AUTH: 1 << 19,
  CLIENT_CONNECT_ATTRS: 1 << 20,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: 1 << 21,
  CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS: 1 << 22,
  CLIENT_SESSION_TRACK: 1 << 23,
  CLIENT_DEPRECATE_EOF: 1 << 24,
  CLIENT_OPTIONAL_RESULTSET_METADATA: 1 << 25,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM: 1 << 26,
  CLIENT_QUERY_ATTRIBUTES: 1 << 27,
  MULTI_FACTOR_AUTHENTICATION: 1 << 28,
  CLIENT_CAPABILITY_EXTENSION: 1 << 29,
  CLIENT_SSL_VERIFY_SERVER_CERT: 1 << 30,
  /** Bit 31; written with `>>> 0` arithmetic since JS bit operators are signed. */
  CLIENT_REMEMBER_OPTIONS: 2 ** 31,
} as const;
export type CapabilityName = keyof typeof Capability;

/** MariaDB's alias for bit 0: set by MySQL peers, clear when MariaDB extended capabilities are in use. */
export const CLIENT_MYSQL = Capability.CLIENT_LONG_PASSWORD;

/**
 * MariaDB extended capabilities, carried in the handshake's last 4 reserved
 * bytes (and in HandshakeResponse41's filler) when CLIENT_MYSQL is clear.
 * @see https://mariadb.com/kb/en/connection/#capabilities
 */
export const MariadbCapability = {
  MARIADB_CLIENT_PROGRESS: 1 << 0,
  MARIADB_CLIENT_COM_MULTI: 1 << 1,
  MARIADB_CLIENT_STMT_BULK_OPERATIONS: 1 << 2,
  MARIADB_CLIENT_EXTENDED_METADATA: 1 << 3,
  MARIADB_CLIENT_CACHE_METADATA: 1 << 4,
  MARIADB_CLIENT_BULK_UNIT_RESULTS: 1 << 5,
} as const;
export type MariadbCapabilityName = keyof typeof MariadbCapability;

/** Command bytes: the first payload byte of a sequence-0 packet in the command phase. */
export const Command = {
  COM_SLEEP: 0x00,
  COM_QUIT: 0x01,
  COM_INIT_DB: 0x02,
  COM_QUERY: 0x03,
  COM_FIELD_LIST: 0x04,
  COM_CREATE_DB: 0x05,
  COM_DROP_DB: 0x06,
  COM_REFRESH: 0x07,
  COM_SHUTDOWN: 0x08,
  COM_STATISTICS: 0x09,
  COM_PROCESS_INFO: 0x0a,
  COM_CONNECT: 0x0b,
  COM_PROCESS_KILL: 0x0c,
  COM_DEBUG: 0x0d,
  COM_PING: 0x0e,
  COM_TIME: 0x0f,
  COM_DELAYED_INSERT: 0x10,
  COM_CHANGE_USER: 0x11,
  COM_BINLOG_DUMP: 0x12,
  COM_TABLE_DUMP: 0x13,
  COM_CONNECT_OUT: 0x14,
  COM_REGISTER_SLAVE: 0x15,
  COM_STMT_PREPARE: 0x16,
  COM_STMT_EXECUTE: 0x17,
  COM_STMT_SEND_LONG_DATA: 0x18,
  COM_STMT_CLOSE: 0x19,
  COM_STMT_RESET: 0x1a,
  COM_SET_OPTION: 0x1b,
  COM_STMT_FETCH: 0x1c,
  COM_DAEMON: 0x1d,
  COM_BINLOG_DUMP_GTID: 0x1e,
  COM_RESET_CONNECTION: 0x1f,
  COM_CLONE: 0x20,
  /** MariaDB: several commands in one packet. */
  COM_MULTI: 0xfe,
  /** MariaDB: bulk execute. */
  COM_STMT_BULK_EXECUTE: 0xfa,
} as const;
export type CommandName = keyof typeof Command;

const commandNames = new Map<number, CommandName>(
  (Object.entries(Command) as [CommandName, number][]).map(([name, byte]) => [byte, name]),
);

/** Name of a command byte, or undefined for bytes no server knows. */
export function commandName(byte: number): CommandName | undefined {
  return commandNames.get(byte);
}

/** Server status flags (OK, EOF and HandshakeV10). */
export const ServerStatus = {
  SERVER_STATUS_IN_TRANS: 1 << 0,
  SERVER_STATUS_AUTOCOMMIT: 1 << 1,
  SERVER_MORE_RESULTS_EXISTS: 1 << 3,
  SERVER_QUERY_NO_GOOD_INDEX_USED: 1 << 4,
  SERVER_QUERY_NO_INDEX_USED: 1 << 5,
  SERVER_STATUS_CURSOR_EXISTS: 1 << 6,
  SERVER_STATUS_LAST_ROW_SENT: 1 << 7,
  SERVER_STATUS_DB_DROPPED: 1 << 8,
  SERVER_STATUS_NO_BACKSLASH_ESCAPES: 1 << 9,
  SERVER_STATUS_METADATA_CHANGED: 1 << 10,
  SERVER_QUERY_WAS_SLOW: 1 << 11,
  SERVER_PS_OUT_PARAMS: 1 << 12,
  SERVER_STATUS_IN_TRANS_READONLY: 1 << 13,
  SERVER_SESSION_STATE_CHANGED: 1 << 14,
} as const;
export type ServerStatusName = keyof typeof ServerStatus;

/** First payload byte of generic response packets. */
export const PacketHeader = {
  /** OK packet. */
  OK: 0x00,
  /** AuthMoreData (auth phase); also LOCAL INFILE request is 0xFB. */
  AUTH_MORE_DATA: 0x01,
  LOCAL_INFILE: 0xfb,
  /** EOF packet, AuthSwitchRequest (auth phase), or OK under CLIENT_DEPRECATE_EOF. */
  EOF: 0xfe,
  /** ERR packet. */
  ERR: 0xff,
} as const;

/** Authentication plugin names as they appear on the wire. */
export const AuthPlugin = {
  MYSQL_NATIVE_PASSWORD: 'mysql_native_password',
  MYSQL_CLEAR_PASSWORD: 'mysql_clear_password',
  CACHING_SHA2_PASSWORD: 'caching_sha2_password',
  SHA256_PASSWORD: 'sha256_password',
  CLIENT_ED25519: 'client_ed25519',
  /** RDS's server-side plugin name for IAM users (statements only, never on the wire). */
  AWS_AUTHENTICATION_PLUGIN: 'AWSAuthenticationPlugin',
} as const;

/**
 * Bounds this codec enforces. The wire allows more; these are chosen so that
 * no field can make a decoder hold or scan more than a few kilobytes.
 */
export const Limits = {
  /** Default max_allowed_packet: 64 MiB, MariaDB 10.6+'s and MySQL 8's default. */
  DEFAULT_MAX_ALLOWED_PACKET: 64 * 1024 * 1024,
  /** Largest payload of one frame; a frame this size is continued by the next. */
  MAX_FRAME_PAYLOAD: 0xffffff,
  /**
   * User name bytes in handshake packets. MySQL allows 32 characters and
   * MariaDB 80, in utf8mb4 up to 4 bytes each; 128 bytes covers MySQL's 32
   * four-byte characters and MariaDB's 80 ASCII ones, and nothing longer is a
   * valid account anywhere.
   */
  MAX_USER_NAME_BYTES: 128,
  /** Schema names: 64 characters, up to 4 bytes each. */
  MAX_DATABASE_NAME_BYTES: 256,
  /** Plugin names: 64 characters in both servers. */
  MAX_PLUGIN_NAME_BYTES: 64,
  /** Auth response in a handshake: a scramble, or a clear-text IAM token (1-4 KB) sent up front. */
  MAX_AUTH_RESPONSE_BYTES: 16 * 1024,
  /** Connection attributes block (MySQL caps it at 64 KiB). */
  MAX_CONNECT_ATTRS_BYTES: 64 * 1024,
  /** Clear-text password payload: IAM tokens are 1-4 KB. */
  MAX_CLEAR_PASSWORD_BYTES: 8 * 1024,
  /** Server version string in HandshakeV10. */
  MAX_SERVER_VERSION_BYTES: 256,
} as const;

/** utf8mb4_general_ci, the default collation id MariaDB and mysql2 announce. */
export const DEFAULT_CHARSET = 45;
