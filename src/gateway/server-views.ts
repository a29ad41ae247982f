/**
 * Who is behind a session, as the database server's own views show it.
 * After an IAM login the gateway tells the server the IAM principal and the
 * audit session id, so a DBA reading pg_stat_activity, the PostgreSQL log
 * (%a in log_line_prefix) or MariaDB/MySQL's performance_schema connection
 * attributes can tell IAM sessions apart and find each one in the audit log.
 * What the client set itself is kept. Pure: strings in, strings out.
 *
 * These values are informational: a session can change its own
 * application_name or custom settings afterwards. The audit log, keyed by
 * the session id, is the record (docs/server-views.md).
 */

/** The principal and the audit session id of an IAM session. */
export interface SessionIdentity {
  readonly principalArn: string;
  readonly sessionId: string;
}

/** PostgreSQL keeps application_name to NAMEDATALEN - 1 bytes, ASCII (pg_stat_activity, %a). */
export const PG_APPLICATION_NAME_MAX = 63;
/** The short name is cut to this much so the session id always fits. */
const SHORT_NAME_MAX = 24;

/**
 * The principal's short name: `alice` for `arn:aws:iam::1:user/path/alice`,
 * `Role/session` for `arn:aws:sts::1:assumed-role/Role/session`, else the
 * resource part of the ARN.
 */
export function principalShortName(arn: string): string {
  const resource = arn.split(':').slice(5).join(':');
  const user = /^user\/(?:.*\/)?([^/]+)$/.exec(resource);
  if (user) return user[1]!;
  const role = /^assumed-role\/(.+)$/.exec(resource);
  if (role) return role[1]!;
  return resource === '' ? arn : resource;
}

/** Printable ASCII only (PostgreSQL shows anything else as '?'); spaces become '_' so the tag stays one word. */
function printable(s: string): string {
  return s.replace(/[^\x21-\x7e]/g, '_');
}

/**
 * The tag a session gets: `iamdb:<short name>:<session id>`, at most
 * 6 + 24 + 1 + 16 bytes, so it always fits in application_name.
 */
export function sessionTag(id: SessionIdentity): string {
  return `iamdb:${printable(principalShortName(id.principalArn)).slice(0, SHORT_NAME_MAX)}:${printable(id.sessionId)}`;
}

/**
 * The application_name the server gets: the client's own (cut to leave
 * room), a space, then the session's tag; only the tag when the client set
 * none. Always within 63 bytes, ASCII.
 */
export function pgApplicationName(clientName: string | undefined, id: SessionIdentity): string {
  const tag = sessionTag(id);
  const own = (clientName ?? '').replace(/[^\x20-\x7e]/g, '?').trim();
  if (own === '') return tag;
  const room = PG_APPLICATION_NAME_MAX - tag.length - 1;
  return `${own.slice(0, room)} ${tag}`;
}

/** A value for a `-c name=value` in the startup `options`: backslash before whitespace and backslashes (PostgreSQL's own escaping there). */
function optionValue(v: string): string {
  return v.replace(/[\\\s]/g, (c) => `\\${c}`);
}

/**
 * The startup `options` the server gets: the client's own, then custom
 * settings with the full principal ARN and the session id
 * (`current_setting('iamdb.principal_arn')`, `current_setting('iamdb.session_id')`).
 * Ours come last, so a client cannot set them in its own options.
 */
export function pgStartupOptions(clientOptions: string | undefined, id: SessionIdentity): string {
  const ours = `-c iamdb.principal_arn=${optionValue(id.principalArn)} -c iamdb.session_id=${optionValue(id.sessionId)}`;
  const own = (clientOptions ?? '').trim();
  return own === '' ? ours : `${own} ${ours}`;
}

/** The attribute names iamdb sets; a client's attributes of these names are dropped. */
export const MYSQL_ATTRIBUTE_PRINCIPAL = 'iamdb_principal_arn';
export const MYSQL_ATTRIBUTE_SESSION = 'iamdb_session_id';

/**
 * The connection attributes the server gets: iamdb's first (the server
 * keeps only as many bytes as performance_schema_session_connect_attrs_size
 * allows, so ours come before the client's), then the client's own, minus
 * any that claim iamdb's names.
 */
export function mysqlConnectAttributes(client: ReadonlyArray<readonly [string, string]> | undefined, id: SessionIdentity): Array<readonly [string, string]> {
  const ours: Array<readonly [string, string]> = [
    [MYSQL_ATTRIBUTE_PRINCIPAL, id.principalArn],
    [MYSQL_ATTRIBUTE_SESSION, id.sessionId],
  ];
  const own = (client ?? []).filter(([k]) => k !== MYSQL_ATTRIBUTE_PRINCIPAL && k !== MYSQL_ATTRIBUTE_SESSION);
  return [...ours, ...own];
}
