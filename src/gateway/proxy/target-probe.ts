/**
 * One health-check login to a proxy target, as RDS Proxy makes it: TCP, TLS
 * as the instance's `targetTls` says, a login with a secret's user and
 * password through the gateway's own upstream login code (PostgreSQL into
 * database `postgres`, which RDS Proxy requires; MySQL without a database),
 * then the target's role (PostgreSQL `SELECT pg_is_in_recovery()`, MySQL
 * MYSQL_ROLE_QUERY: a standby or read-only server is a reader, the rest a
 * writer), then a polite close. The outcome is classified for target health: the
 * server does not answer, refuses the credentials, or fails otherwise with
 * its own message. Never holds the password past the login and never puts
 * it in an outcome.
 */
import { isIamdbError } from '../../errors/index.js';
import { SqlState, encodeTerminate } from '../../protocol/postgres/index.js';
import { MysqlError, encodePacket } from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import { LoginFailed } from '../session-common.js';
import { ServerProfileCache } from '../mysql/greeting.js';
import { abandonServerLink, credentialLogin, openServer, type ServerLink } from '../mysql/upstream.js';
import { loginUpstream, openUpstream } from '../postgres/upstream.js';
import { runQuery } from './postgres-pool.js';

/**
 * Whether a MySQL/MariaDB server refuses writes, as RDS and Aurora tell
 * their readers: `read_only` (RDS for MySQL and MariaDB read replicas, and
 * any MariaDB/MySQL replica set up as one; a promotion turns it off) or
 * `innodb_read_only` (an Aurora MySQL reader). Either on: a reader.
 * Replication status (`SHOW SLAVE STATUS`) is not asked: it needs a
 * privilege (REPLICATION CLIENT / SLAVE MONITOR) the secrets' users seldom
 * have, and a replica with writes allowed takes writes whatever it follows.
 */
export const MYSQL_ROLE_QUERY = 'SELECT @@global.read_only OR @@global.innodb_read_only';

/** How a probe login ended. `detail` is the server's or the network's word, never a secret. */
export type ProbeOutcome =
  /** Logged in; whether the server is a standby (PostgreSQL `pg_is_in_recovery()`, MySQL MYSQL_ROLE_QUERY), which makes it a reader. */
  | { readonly kind: 'ok'; readonly inRecovery?: boolean }
  /** No TCP connection (refused, timed out, unresolvable). */
  | { readonly kind: 'unreachable'; readonly detail: string }
  /** The server refused the user and password (PostgreSQL 28P01/28000, MySQL 1045). */
  | { readonly kind: 'auth-refused'; readonly detail: string }
  /** Anything else: TLS, protocol, the server's other errors, a login that did not finish in time. */
  | { readonly kind: 'failed'; readonly detail: string };

/** A probe login; tests and other engines may supply their own. */
export type TargetProbe = (instance: DbInstance, credential: { username: string; password: Secret<string> }, timeoutMs: number) => Promise<ProbeOutcome>;

const LOGIN_MAX_MESSAGE_BYTES = 1 << 20;

/** The probe of the instance's engine. */
export const probeTarget: TargetProbe = (instance, credential, timeoutMs) =>
  instance.engine === 'postgres' ? probePostgres(instance, credential, timeoutMs) : probeMysql(instance, credential, timeoutMs);

/** Connection errors as the probe reports them: no TCP is unreachable, the rest failed. */
function classifyError(err: unknown): ProbeOutcome {
  if (isIamdbError(err, 'GATEWAY_UPSTREAM_UNAVAILABLE')) return { kind: 'unreachable', detail: String(err.details['reason'] ?? err.message) };
  return { kind: 'failed', detail: err instanceof Error ? err.message : String(err) };
}

/** Ends `socket`'s probe if it takes longer than `ms` (the reader then rejects). */
function deadline(socket: { destroy(err?: Error): void }, ms: number, timedOut: { value: boolean }): NodeJS.Timeout {
  const t = setTimeout(() => {
    timedOut.value = true;
    socket.destroy();
  }, ms);
  t.unref();
  return t;
}

async function probePostgres(instance: DbInstance, credential: { username: string; password: Secret<string> }, timeoutMs: number): Promise<ProbeOutcome> {
  let link;
  try {
    link = await openUpstream(instance, timeoutMs);
  } catch (err) {
    return classifyError(err);
  }
  const timedOut = { value: false };
  const timer = deadline(link.socket, timeoutMs, timedOut);
  try {
    const result = await loginUpstream(instance, link, { user: credential.username, database: 'postgres', params: new Map(), password: credential.password, maxMessageBytes: LOGIN_MAX_MESSAGE_BYTES });
    if (result.ok) {
      // The role is the server's own word: a promoted standby says false at once.
      const role = await runQuery(result.session, 'SELECT pg_catalog.pg_is_in_recovery()', LOGIN_MAX_MESSAGE_BYTES).catch(() => ({ value: undefined }));
      result.session.socket.end(encodeTerminate());
      return role.value === 't' || role.value === 'f' ? { kind: 'ok', inRecovery: role.value === 't' } : { kind: 'ok' };
    }
    const e = result.error;
    const refused = e.code === SqlState.INVALID_PASSWORD || e.code === SqlState.INVALID_AUTHORIZATION_SPECIFICATION;
    return { kind: refused ? 'auth-refused' : 'failed', detail: `${e.code}: ${e.message}` };
  } catch (err) {
    return timedOut.value ? { kind: 'failed', detail: `the login did not complete within ${timeoutMs} ms` } : classifyError(err);
  } finally {
    clearTimeout(timer);
    link.socket.destroy();
  }
}

async function probeMysql(instance: DbInstance, credential: { username: string; password: Secret<string> }, timeoutMs: number): Promise<ProbeOutcome> {
  const profile = new ServerProfileCache(instance.engineName, () => Promise.reject(new Error('a probe never asks the control connection')));
  let link: ServerLink;
  try {
    link = await openServer(instance, timeoutMs, profile, LOGIN_MAX_MESSAGE_BYTES);
  } catch (err) {
    if (err instanceof LoginFailed) return { kind: 'failed', detail: err.detail ?? err.reason };
    return classifyError(err);
  }
  const timedOut = { value: false };
  const timer = deadline(link.socket, timeoutMs, timedOut);
  let refusal: ProbeOutcome | undefined;
  try {
    await credentialLogin(link, instance, credential, {
      timeoutMs,
      maxPacket: LOGIN_MAX_MESSAGE_BYTES,
      refused: (e) => {
        const detail = `${e.errno}: ${e.message}`;
        refusal = { kind: e.errno === MysqlError.ER_ACCESS_DENIED_ERROR.errno ? 'auth-refused' : 'failed', detail };
        return new LoginFailed('UpstreamAuthFailed', undefined, detail);
      },
      failed: (reason) => {
        refusal = { kind: 'failed', detail: reason };
        return new LoginFailed('UpstreamAuthFailed', undefined, reason);
      },
    });
    // The role is the server's own word, as for PostgreSQL: a replica promoted (read_only off) is a writer at once.
    const readOnly = await readOnlyOf(link).catch(() => undefined);
    link.socket.end(encodePacket(Buffer.from([0x01 /* COM_QUIT */]), 0));
    return readOnly === undefined ? { kind: 'ok' } : { kind: 'ok', inRecovery: readOnly };
  } catch (err) {
    if (refusal !== undefined) return refusal;
    return timedOut.value ? { kind: 'failed', detail: `the login did not complete within ${timeoutMs} ms` } : classifyError(err);
  } finally {
    clearTimeout(timer);
    if (link.phase === 'done') link.socket.destroy();
    else abandonServerLink(link);
  }
}

/**
 * MYSQL_ROLE_QUERY's answer on a logged-in probe link (no CLIENT_DEPRECATE_EOF:
 * column count, definition, EOF, the row, EOF); undefined when the server
 * answers anything else. The link is closed after it, so the last EOF is not read.
 */
async function readOnlyOf(link: ServerLink): Promise<boolean | undefined> {
  link.socket.write(encodePacket(Buffer.concat([Buffer.from([0x03 /* COM_QUERY */]), Buffer.from(MYSQL_ROLE_QUERY, 'utf8')]), 0));
  const count = await link.reader.next();
  if (count.payload[0] !== 1) return undefined;
  // Column definitions up to the EOF that ends them.
  for (let i = 0; i < 4; i++) {
    const p = await link.reader.next();
    if (p.payload[0] === 0xfe && p.payload.length < 9) {
      const row = (await link.reader.next()).payload;
      // A length-encoded string: '0' or '1'.
      if (row.length !== 2 || row[0] !== 1) return undefined;
      return row[1] === 0x31;
    }
  }
  return undefined;
}
