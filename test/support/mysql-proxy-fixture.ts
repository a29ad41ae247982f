/**
 * One MySQL proxy (EngineFamily MYSQL) made the way a user makes it, through
 * the RDS API (proxy-fixture.ts): a database of its own (and a second one
 * the users may USE, when asked), one database user per role the test
 * names, each with a secret and the way its clients authenticate (the
 * secret's password by mysql_native_password or caching_sha2_password, or
 * an IAM token that `alice` may sign), MariaDB servers as iamdb instances
 * registered as the proxy's targets, and the pool's bounds. Test files of
 * the MySQL pooled relay share this setup and keep only what they test.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type * as RDS from '@aws-sdk/client-rds';
import mysql from 'mysql2/promise';
import { inject } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import type { MariaDbCoordinates } from './context.js';
import { getFreePort } from './free-port.js';
import { newAccessKey, startIamdb, type TestIamdb } from './iamdb.js';
import type { MariaDbServer } from './mariadb-server.js';
import { aliceMayConnect, createProxy, iamToken, proxyDbUserArn, type AccessKey, type ProxySecret } from './proxy-fixture.js';

/**
 * How clients authenticate as a user: the secret's password by a named
 * plugin (`native`, `caching-sha2`) or by the proxy's default (`password`,
 * no ClientPasswordAuthType), or an IAM token (`iam`, IAMAuth REQUIRED).
 */
export type MysqlUserAuth = 'native' | 'caching-sha2' | 'password' | 'iam';

const AUTH: Record<MysqlUserAuth, ProxySecret['auth']> = {
  native: { IAMAuth: 'DISABLED', ClientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' },
  'caching-sha2': { IAMAuth: 'DISABLED', ClientPasswordAuthType: 'MYSQL_CACHING_SHA2_PASSWORD' },
  password: { IAMAuth: 'DISABLED' },
  iam: { IAMAuth: 'REQUIRED' },
};

/** A server root logs in to: the run's shared MariaDB (TLS) or one of the test's own. */
export type MysqlServer = MariaDbCoordinates | MariaDbServer;

export interface MysqlProxyFixtureOptions<K extends string> {
  /** The users, by the name the test gives them, and how their clients authenticate. */
  readonly users: Readonly<Record<K, MysqlUserAuth>>;
  /** The proxy's targets, in order (default: the run's MariaDB); users and databases are made on the first, which replicas follow. */
  readonly servers?: readonly MysqlServer[];
  /** A second database the users may USE (`other`). */
  readonly otherDatabase?: boolean;
  /** Statements root runs on the first server once the users and databases exist (tables: name them with `database.`; users by their server names). */
  readonly setup?: (database: string, users: Readonly<Record<K, string>>) => readonly string[];
  /** RequireTLS (default: the API's). */
  readonly requireTls?: boolean;
  readonly pool: RDS.ConnectionPoolConfiguration;
  /** More of iamdb's config (metrics, proxyEndpoints). */
  readonly config?: Record<string, unknown>;
}

export interface MysqlConnectOptions {
  /** Another endpoint's port (default the default endpoint's). */
  readonly port?: number;
  readonly password?: string;
  /** TLS with iamdb's CA (default true); false: a clear connection. */
  readonly tls?: boolean;
  /** The database to log in to (default the fixture's; '' for none). */
  readonly database?: string;
  readonly connectTimeout?: number;
  /** mysql2's capability flags to add or drop ('-SESSION_TRACK'). */
  readonly flags?: string[];
}

export interface MysqlProxyFixture<K extends string> {
  readonly iamdb: TestIamdb;
  /** The default endpoint's port on 127.0.0.1. */
  readonly port: number;
  readonly proxyName: string;
  /** The random part of every name the fixture made, for the test's own names. */
  readonly suffix: string;
  /** Every user's password (in its secret and on the server). */
  readonly password: string;
  readonly users: Readonly<Record<K, string>>;
  readonly database: string;
  /** The second database ('' unless `otherDatabase`). */
  readonly other: string;
  /** The instance ids of `servers`, in order. */
  readonly targets: readonly string[];
  readonly aliceKey: AccessKey;
  /** PEM of iamdb's CA. */
  readonly iamdbCa: string;
  /** RDS client of the administrator, the proxy's role and its secrets (in the order of `users`), for the test's own calls. */
  readonly rds: RDS.RDSClient;
  readonly roleArn: string;
  readonly secretArns: readonly string[];
  /** Root straight to a server (default the first), over TLS where the server has it. */
  admin(server?: MysqlServer): Promise<mysql.Connection>;
  /** A mysql2 client of `user` through the proxy with the secret's password. */
  connect(user: string, opts?: MysqlConnectOptions): Promise<mysql.Connection>;
  /** A mysql2 client of `user` through the proxy with a fresh IAM token, sent by mysql_clear_password over TLS. */
  connectIam(user: string, opts?: Omit<MysqlConnectOptions, 'password' | 'tls'>): Promise<mysql.Connection>;
  /** A fresh IAM token for `user` at the proxy endpoint. */
  token(user: string): string;
  /** The db.session.end record of the next session of `user` to end after audit index `from`. */
  sessionEnd(user: string, from: number): Promise<AuditEvent>;
  stop(): Promise<void>;
}

function root(s: MysqlServer): { user: string; password: string } {
  return 'rootUser' in s ? { user: s.rootUser, password: s.rootPassword } : { user: s.user, password: s.password };
}

/** The first column of the first row of a query's answer. */
export async function one<T>(c: mysql.Connection, sql: string): Promise<T> {
  const [rows] = await c.query(sql);
  return Object.values((rows as Record<string, unknown>[])[0]!)[0] as T;
}

export async function startMysqlProxyFixture<K extends string>(prefix: string, opts: MysqlProxyFixtureOptions<K>): Promise<MysqlProxyFixture<K>> {
  const servers = opts.servers ?? [inject('iamdbMariaDb')];
  const suffix = randomBytes(3).toString('hex');
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const database = `${prefix}db_${suffix}`;
  const other = opts.otherDatabase ? `${prefix}db2_${suffix}` : '';
  const proxyName = `${prefix}-${suffix}`;
  const aliceKey = newAccessKey();
  const roles = Object.keys(opts.users) as K[];
  const users = Object.fromEntries(roles.map((r) => [r, `${prefix}${r.replace(/[^a-z0-9]/gi, '')}_${suffix}`])) as Record<K, string>;
  const cas = new Map<MysqlServer, string>();
  for (const s of servers) if (s.caCertPath !== undefined) cas.set(s, await readFile(s.caCertPath, 'utf8'));
  const admin = (s: MysqlServer = servers[0]!): Promise<mysql.Connection> => {
    const ca = cas.get(s);
    return mysql.createConnection({ host: s.host, port: s.port, ...root(s), ...(ca !== undefined ? { ssl: { ca } } : {}) });
  };

  const databases = other === '' ? [database] : [database, other];
  const a = await admin();
  try {
    for (const db of databases) await a.query(`CREATE DATABASE ${db}`);
    for (const u of Object.values<string>(users)) {
      await a.query(`CREATE USER '${u}'@'%' IDENTIFIED BY '${password}'`);
      for (const db of databases) await a.query(`GRANT ALL ON ${db}.* TO '${u}'@'%'`);
    }
    for (const sql of opts.setup?.(database, users) ?? []) await a.query(sql);
  } finally {
    await a.end();
  }

  const targets = servers.map((_, i) => `${prefix}t${i}-${suffix}`);
  const iamUsers = roles.filter((r) => opts.users[r] === 'iam').map((r) => users[r]);
  const iamdb = await startIamdb({
    api: { listen: 'auto' },
    ...(iamUsers.length > 0 ? { iam: aliceMayConnect(aliceKey, iamUsers.map(proxyDbUserArn)) } : {}),
    instances: servers.map((s, i) => ({ id: targets[i], engine: 'mariadb', listen: 'auto', target: `${s.host}:${s.port}`, master: { username: root(s).user, password: root(s).password } })),
    ...opts.config,
  });
  try {
    const iamdbCa = await readFile(iamdb.caPath, 'utf8');
    const port = await getFreePort();
    const created = await createProxy(iamdb, {
      engineFamily: 'MYSQL',
      proxyName,
      port,
      ...(opts.requireTls !== undefined ? { requireTls: opts.requireTls } : {}),
      targets,
      secrets: roles.map((r) => ({ username: users[r], password, auth: AUTH[opts.users[r]] })),
      pool: opts.pool,
    });
    const connect = (user: string, o: MysqlConnectOptions & { authPlugins?: mysql.ConnectionOptions['authPlugins'] } = {}): Promise<mysql.Connection> =>
      mysql.createConnection({
        host: '127.0.0.1',
        port: o.port ?? port,
        user,
        password: o.password ?? password,
        database: o.database ?? database,
        ...(o.tls === false ? {} : { ssl: { ca: iamdbCa } }),
        ...(o.connectTimeout !== undefined ? { connectTimeout: o.connectTimeout } : {}),
        ...(o.flags !== undefined ? { flags: o.flags } : {}),
        ...(o.authPlugins !== undefined ? { authPlugins: o.authPlugins } : {}),
      });
    const token = (user: string): string => iamToken('127.0.0.1', port, user, aliceKey);
    return {
      iamdb,
      port,
      proxyName,
      suffix,
      password,
      users,
      database,
      other,
      targets,
      aliceKey,
      iamdbCa,
      ...created,
      admin,
      connect,
      connectIam(user, o = {}) {
        const t = token(user);
        // mysql2 answers the proxy's switch to mysql_clear_password with the token itself.
        return connect(user, { ...o, password: t, authPlugins: { mysql_clear_password: () => () => Buffer.from(`${t}\0`) } });
      },
      token,
      sessionEnd: (user, from) => iamdb.audit.until((e) => e.event === 'db.session.end' && (e as { dbUser?: string }).dbUser === user, from),
      stop: () => iamdb.stop(),
    };
  } catch (e) {
    await iamdb.stop();
    throw e;
  }
}
