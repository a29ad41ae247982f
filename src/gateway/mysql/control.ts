/**
 * The gateway's own administrative link to a MySQL/MariaDB target, logged in
 * as the master user (mysql2, which speaks every auth plugin a master may
 * use). It installs an IAM account's new managed credential when the
 * server stopped accepting the old one (someone changed the password behind
 * the gateway), and reads what the gateway must know of accounts. It does
 * not learn the server's profile for the gateway's greeting: mysql2's parsed
 * greeting skips the MariaDB extended capabilities, so that comes from a
 * login of the gateway's own (profile-login.ts).
 * Nothing from a client reaches SQL text: account names are escaped, hashes
 * are checked against their pattern.
 */
import mysql from 'mysql2/promise';
import { IamdbError } from '../../errors/index.js';
import { accountKey } from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import { controlLinkTlsOptions } from '../tls-upgrade.js';
import type { Secret } from '../../util/index.js';
import { alterUserStatement, credentialFormatFor } from './credential-format.js';
import type { Account } from './iam-users.js';

/** What the server's greeting says that the gateway's own greeting repeats (greeting.ts). */
export interface ServerProfile {
  readonly serverVersion: string;
  readonly capabilityFlags: number;
  readonly mariadbCapabilities: number;
  readonly characterSet: number;
  readonly statusFlags: number;
}

/** The field of mysql2's handshake packet we read (internal to mysql2, stable since 1.x). */
interface Mysql2Handshake {
  readonly serverVersion?: string;
}

/** How long the control connection may stay idle before it is closed. */
const IDLE_MS = 30_000;

export class MysqlControl {
  #conn: Promise<mysql.Connection> | undefined;
  #idle: NodeJS.Timeout | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #userColumns: Promise<string[]> | undefined;

  constructor(
    private readonly instance: DbInstance,
    private readonly connectTimeoutMs: number,
  ) {}

  /** Under `prefer`: the server's greeting offered no TLS, so this link stays in clear from then on. */
  #clear = false;

  /** The control link follows `targetTls` as sessions do (`prefer`: TLS, unverified, until the server offers none). */
  #open(): Promise<mysql.Connection> {
    const tls = this.instance.targetTls;
    const clear = tls.mode === 'disable' || this.#clear;
    return mysql.createConnection({
      host: this.instance.target.host,
      port: this.instance.target.port,
      user: this.instance.master.username,
      password: this.instance.master.password.reveal(),
      connectTimeout: this.connectTimeoutMs,
      connectAttributes: { program_name: 'iamdb-control' },
      ...(clear
        ? {}
        : {
            ssl: controlLinkTlsOptions(tls),
          }),
    });
  }

  #connect(): Promise<mysql.Connection> {
    this.#conn ??= this.#open()
      .catch((err: unknown) => {
        if (this.instance.targetTls.mode !== 'prefer' || this.#clear || (err as { code?: string }).code !== 'HANDSHAKE_NO_SSL_SUPPORT') throw err;
        this.#clear = true;
        return this.#open();
      })
      .then((c) => {
        c.on('error', () => this.#drop());
        return c;
      })
      .catch((err: unknown) => {
        this.#conn = undefined;
        throw new IamdbError('GATEWAY_UPSTREAM_UNAVAILABLE', { target: `${this.instance.target.host}:${this.instance.target.port}`, reason: (err as { code?: string }).code ?? 'control login failed' }, { cause: err });
      });
    return this.#conn;
  }

  #drop(): void {
    const c = this.#conn;
    this.#conn = undefined;
    c?.then((conn) => conn.destroy()).catch(() => undefined);
  }

  /** Runs `fn` on the control connection, one call at a time; the connection closes after a quiet spell. */
  #use<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const run = this.#queue.catch(() => undefined).then(async () => {
      if (this.#idle) clearTimeout(this.#idle);
      try {
        return await fn(await this.#connect());
      } catch (err) {
        // A broken link is reconnected next time.
        if (!(err instanceof IamdbError)) this.#drop();
        throw err;
      } finally {
        this.#idle = setTimeout(() => this.#drop(), IDLE_MS);
        this.#idle.unref();
      }
    });
    this.#queue = run;
    return run;
  }

  /**
   * Installs `password` (as a hash, never in clear) on each of `accounts`,
   * which must all be the same IAM user: a caching_sha2_password hash on
   * MySQL 8+, a native one elsewhere (credential-format.ts), by the version
   * this connection's greeting showed.
   */
  async setPassword(accounts: readonly Account[], password: Secret<string>): Promise<void> {
    if (accounts.some((a) => a.user === this.instance.master.username)) {
      throw new IamdbError('GATEWAY_UNSUPPORTED', { what: "changing the master user's password" });
    }
    await this.#use(async (c) => {
      const format = credentialFormatFor(this.#serverVersion(c));
      for (const a of accounts) {
        await c.query(alterUserStatement(`${c.escape(a.user)}@${c.escape(a.host)}`, format.hash(password.reveal())));
      }
    });
  }

  /** The version string of the control connection's greeting; without one, the engine's usual default. */
  #serverVersion(c: mysql.Connection): string {
    const hs = (c as unknown as { connection?: { _handshakePacket?: Mysql2Handshake } }).connection?._handshakePacket;
    return hs?.serverVersion ?? (this.instance.engineName === 'mariadb' ? 'MariaDB' : '8.0.0');
  }

  /**
   * What the server holds as each account's password hash (absent: no such
   * account), keyed like `accountKey`: the gateway records an IAM account
   * only once the server really has the credential's hash.
   */
  async installedHashes(accounts: readonly Account[]): Promise<Map<string, string>> {
    return this.#use(async (c) => {
      const out = new Map<string, string>();
      for (const a of accounts) {
        const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT authentication_string AS h FROM mysql.user WHERE User = ? AND Host = ?', [a.user, a.host]);
        const h = rows[0]?.['h'];
        if (typeof h === 'string') out.set(accountKey(a), h);
      }
      return out;
    });
  }

  /** mysql.user's columns in the server's order (for the view through which IAM accounts show as RDS's), read once. */
  async userTableColumns(): Promise<string[]> {
    this.#userColumns ??= this.#use(async (c) => {
      const [rows] = await c.query<mysql.RowDataPacket[]>('SHOW COLUMNS FROM mysql.user');
      return rows.map((r) => String(r['Field']));
    }).catch((err: unknown) => {
      this.#userColumns = undefined;
      throw err;
    });
    return this.#userColumns;
  }

  /**
   * The strongest TLS requirement the server holds for `accounts` (REQUIRE
   * SSL/CIPHER: `ssl`; X509, ISSUER, SUBJECT: `client-certificate`), to tell
   * why it refused a login the gateway made. Both servers keep it in
   * mysql.user (ssl_type ANY, X509 or SPECIFIED with the x509 columns).
   */
  async tlsRequirement(accounts: readonly Account[]): Promise<'ssl' | 'client-certificate' | undefined> {
    return this.#use(async (c) => {
      let found: 'ssl' | 'client-certificate' | undefined;
      for (const a of accounts) {
        const [rows] = await c.query<mysql.RowDataPacket[]>(
          'SELECT ssl_type AS t, LENGTH(x509_issuer) + LENGTH(x509_subject) AS cert FROM mysql.user WHERE User = ? AND Host = ?',
          [a.user, a.host],
        );
        const row = rows[0];
        const type = String(row?.['t'] ?? '');
        if (type === 'X509' || (type === 'SPECIFIED' && Number(row?.['cert'] ?? 0) > 0)) return 'client-certificate';
        if (type === 'ANY' || type === 'SPECIFIED') found = 'ssl';
      }
      return found;
    });
  }

  async close(): Promise<void> {
    if (this.#idle) clearTimeout(this.#idle);
    const c = this.#conn;
    this.#conn = undefined;
    await c?.then((conn) => conn.end()).catch(() => undefined);
  }
}
