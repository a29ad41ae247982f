/**
 * Server error numbers this project raises or reacts to, with their SQLSTATE,
 * readable both ways: name → { errno, sqlState } and errno → name. Raise
 * sites use names, never bare numbers.
 *
 * @see https://mariadb.com/kb/en/mariadb-error-code-reference/
 * @see https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html
 */

/** Errno and SQLSTATE of each named server error. */
export const MysqlError = {
  ER_CON_COUNT_ERROR: { errno: 1040, sqlState: '08004' },
  ER_OUT_OF_RESOURCES: { errno: 1041, sqlState: 'HY000' },
  ER_BAD_HOST_ERROR: { errno: 1042, sqlState: '08S01' },
  ER_HANDSHAKE_ERROR: { errno: 1043, sqlState: '08S01' },
  ER_DBACCESS_DENIED_ERROR: { errno: 1044, sqlState: '42000' },
  ER_ACCESS_DENIED_ERROR: { errno: 1045, sqlState: '28000' },
  ER_NO_DB_ERROR: { errno: 1046, sqlState: '3D000' },
  ER_UNKNOWN_COM_ERROR: { errno: 1047, sqlState: '08S01' },
  ER_BAD_DB_ERROR: { errno: 1049, sqlState: '42000' },
  ER_SERVER_SHUTDOWN: { errno: 1053, sqlState: '08S01' },
  ER_PARSE_ERROR: { errno: 1064, sqlState: '42000' },
  ER_NO_SUCH_THREAD: { errno: 1094, sqlState: 'HY000' },
  ER_KILL_DENIED_ERROR: { errno: 1095, sqlState: 'HY000' },
  ER_UNKNOWN_ERROR: { errno: 1105, sqlState: 'HY000' },
  ER_HOST_IS_BLOCKED: { errno: 1129, sqlState: 'HY000' },
  ER_HOST_NOT_PRIVILEGED: { errno: 1130, sqlState: 'HY000' },
  ER_NOT_ALLOWED_COMMAND: { errno: 1148, sqlState: '42000' },
  ER_ABORTING_CONNECTION: { errno: 1152, sqlState: '08S01' },
  ER_NET_PACKET_TOO_LARGE: { errno: 1153, sqlState: '08S01' },
  ER_NET_READ_ERROR_FROM_PIPE: { errno: 1154, sqlState: '08S01' },
  ER_NET_FCNTL_ERROR: { errno: 1155, sqlState: '08S01' },
  ER_NET_PACKETS_OUT_OF_ORDER: { errno: 1156, sqlState: '08S01' },
  ER_NET_UNCOMPRESS_ERROR: { errno: 1157, sqlState: '08S01' },
  ER_NET_READ_ERROR: { errno: 1158, sqlState: '08S01' },
  ER_NET_READ_INTERRUPTED: { errno: 1159, sqlState: '08S01' },
  ER_NET_ERROR_ON_WRITE: { errno: 1160, sqlState: '08S01' },
  ER_NET_WRITE_INTERRUPTED: { errno: 1161, sqlState: '08S01' },
  ER_NEW_ABORTING_CONNECTION: { errno: 1184, sqlState: '08S01' },
  ER_TOO_MANY_USER_CONNECTIONS: { errno: 1203, sqlState: '42000' },
  ER_LOCK_WAIT_TIMEOUT: { errno: 1205, sqlState: 'HY000' },
  ER_USER_LIMIT_REACHED: { errno: 1226, sqlState: '42000' },
  ER_SPECIFIC_ACCESS_DENIED_ERROR: { errno: 1227, sqlState: '42000' },
  ER_WRONG_VALUE_FOR_VAR: { errno: 1231, sqlState: '42000' },
  ER_NOT_SUPPORTED_YET: { errno: 1235, sqlState: '42000' },
  ER_NOT_SUPPORTED_AUTH_MODE: { errno: 1251, sqlState: '08004' },
  ER_OPTION_PREVENTS_STATEMENT: { errno: 1290, sqlState: 'HY000' },
  ER_QUERY_INTERRUPTED: { errno: 1317, sqlState: '70100' },
  ER_CANNOT_USER: { errno: 1396, sqlState: 'HY000' },
  ER_PLUGIN_IS_NOT_LOADED: { errno: 1524, sqlState: 'HY000' },
  ER_MUST_CHANGE_PASSWORD: { errno: 1820, sqlState: 'HY000' },
  ER_MUST_CHANGE_PASSWORD_LOGIN: { errno: 1862, sqlState: 'HY000' },
  ER_SECURE_TRANSPORT_REQUIRED: { errno: 3159, sqlState: 'HY000' },
} as const satisfies Record<string, { errno: number; sqlState: string }>;

/** Name of a known server error. */
export type MysqlErrorName = keyof typeof MysqlError;

const byErrno = new Map<number, MysqlErrorName>(
  (Object.keys(MysqlError) as MysqlErrorName[]).map((name) => [MysqlError[name].errno, name]),
);

/**
 * Name of a server errno, or undefined when the table does not know it.
 * @example mysqlErrorName(1045) // 'ER_ACCESS_DENIED_ERROR'
 */
export function mysqlErrorName(errno: number): MysqlErrorName | undefined {
  return byErrno.get(errno);
}

/**
 * SQLSTATE for an errno: the table's value, or 'HY000' (general error) for
 * numbers it does not list, as the servers themselves do.
 */
export function sqlStateFor(errno: number): string {
  const name = byErrno.get(errno);
  return name === undefined ? 'HY000' : MysqlError[name].sqlState;
}
