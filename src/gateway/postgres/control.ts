/**
 * The gateway's own administrative link to a PostgreSQL target, logged in as
 * the master user: it keeps the `rds_iam` role in place, answers "is this
 * user an IAM user?" from the server's own catalog (so GRANT/REVOKE rds_iam
 * work exactly as on RDS, through the gateway or not), and installs the
 * managed credential of IAM users. Every statement is parameterised or
 * built from escaped identifiers: nothing from a client reaches SQL text.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { IamdbError } from '../../errors/index.js';
import type { DbInstance } from '../../rds/index.js';
import { controlLinkTlsOptions } from '../tls-upgrade.js';
import type { Secret } from '../../util/index.js';

const IAM_MEMBERSHIP_SQL = `
WITH RECURSIVE members(oid) AS (
  SELECT am.member FROM pg_auth_members am JOIN pg_roles r ON r.oid = am.roleid WHERE r.rolname = 'rds_iam'
  UNION
  SELECT am.member FROM pg_auth_members am JOIN members m ON am.roleid = m.oid
)
SELECT EXISTS (SELECT 1 FROM members m JOIN pg_roles r ON r.oid = m.oid WHERE r.rolname = $1) AS iam`;

/** A SCRAM-SHA-256 verifier for ALTER ROLE … PASSWORD, so the cleartext never reaches the server. */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** node-postgres's error when the server answers the SSLRequest with 'N'. */
const NO_TLS_ON_SERVER = /does not support SSL/;

export class PostgresControl {
  #pool: pg.Pool;
  /** Under `prefer`: the server said it has no TLS, so this link stays in clear from then on. */
  #clear: boolean;
  #roleReady: Promise<void> | undefined;

  private readonly masterUser: string;

  /** Told the server's `server_version` whenever the role check reads it (RDS's EngineVersion). */
  readonly #onServerVersion: (version: string) => void;

  constructor(
    private readonly instance: DbInstance,
    private readonly connectTimeoutMs: number,
    onServerVersion: (version: string) => void = () => undefined,
  ) {
    this.#onServerVersion = onServerVersion;
    this.masterUser = instance.master.username;
    this.#clear = instance.targetTls.mode === 'disable';
    this.#pool = this.#newPool();
  }

  /** The control link follows `targetTls` as sessions do (`prefer`: TLS, unverified, until the server says it has none). */
  #newPool(): pg.Pool {
    const { instance } = this;
    const tls = instance.targetTls;
    const pool = new pg.Pool({
      host: instance.target.host,
      port: instance.target.port,
      user: instance.master.username,
      password: instance.master.password.reveal(),
      database: 'postgres',
      max: 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'iamdb-control',
      ssl: this.#clear ? false : controlLinkTlsOptions(tls),
    });
    pool.on('error', () => undefined);
    return pool;
  }

  /** Runs `fn` on the pool; under `prefer`, a server without TLS gets the pool again in clear, once. */
  async #run<T>(fn: (pool: pg.Pool) => Promise<T>): Promise<T> {
    try {
      return await fn(this.#pool);
    } catch (err) {
      if (this.#clear || this.instance.targetTls.mode !== 'prefer' || !NO_TLS_ON_SERVER.test(String((err as Error)?.message))) throw err;
      this.#clear = true;
      const old = this.#pool;
      this.#pool = this.#newPool();
      void old.end().catch(() => undefined);
      return fn(this.#pool);
    }
  }

  /**
   * Creates the NOLOGIN role `rds_iam` if missing (once per process, retried after failures). The
   * same round trip reads `server_version`, so the control plane learns the version for free.
   */
  ensureRdsIamRole(): Promise<void> {
    this.#roleReady ??= this.#run((p) =>
      p.query(`DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; WHEN unique_violation THEN NULL; END $$; SHOW server_version`),
    )
      .then((results: unknown) => {
        const last = Array.isArray(results) ? (results.at(-1) as pg.QueryResult | undefined) : undefined;
        const version: unknown = last?.rows[0]?.['server_version'];
        if (typeof version === 'string') this.#onServerVersion(version);
      })
      .catch((err: unknown) => {
        this.#roleReady = undefined;
        throw err;
      });
    return this.#roleReady;
  }

  /** True when `user` is (directly or through other roles) a member of rds_iam. */
  async isIamUser(user: string): Promise<boolean> {
    await this.ensureRdsIamRole();
    const res = await this.#run((p) => p.query<{ iam: boolean }>(IAM_MEMBERSHIP_SQL, [user]));
    return res.rows[0]?.iam === true;
  }

  /** Installs `password` as the login credential of `user` (as a SCRAM verifier). */
  async setPassword(user: string, password: Secret<string>): Promise<void> {
    // Defence in depth: the session never asks, but the master's password is what this link logs in with.
    if (user === this.masterUser) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: "changing the master user's password" });
    const client = await this.#run((p) => p.connect());
    try {
      const ident = client.escapeIdentifier(user);
      await client.query(`ALTER ROLE ${ident} WITH PASSWORD '${scramVerifier(password.reveal())}'`);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
