/**
 * The credentials iamdb manages on the servers, against a real PostgreSQL 15:
 * the master is never treated as an IAM user (its password is what the
 * gateway manages the server with), and replacing an IAM user's credential
 * after someone changed it behind the gateway's back happens once, however
 * many logins fail together, without failing any of them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManagedCredentials } from '../../src/rds/index.js';
import { runPsql } from '../support/clients.js';
import { pgLoginAs, signToken, type Endpoint } from '../support/gateway-clients.js';
import { iamAllowedEverywhere, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { startPostgres, type PgServer } from '../support/postgres-server.js';

const key = newAccessKey();
const suffix = randomBytes(3).toString('hex');

function gatewayConfig(target: { host: string; port: number; user: string; password: string }, id: string): Record<string, unknown> {
  return {
    // Allowed as any database user: the master included, as a careless policy would.
    iam: iamAllowedEverywhere(key),
    instances: [
      {
        id,
        engine: 'postgres',
        listen: 'auto',
        target: `${target.host}:${target.port}`,
        master: { username: target.user, password: target.password },
        iamDatabaseAuthentication: true,
      },
    ],
  };
}

async function asSuperuser<T>(target: { host: string; port: number; user: string; password: string }, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: target.host, port: target.port, user: target.user, password: target.password, database: 'postgres' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('the master user is never an IAM user (PostgreSQL)', () => {
  let server: PgServer;
  let target: { host: string; port: number; user: string; password: string };
  let gw: TestIamdb;
  let ep: Endpoint;
  const mgr = `mgr_${suffix}`;
  const mgrPassword = randomBytes(12).toString('hex');

  beforeAll(async () => {
    server = await startPostgres({ tls: true });
    target = { host: server.host, port: server.port, user: server.superuser, password: server.superuserPassword };
    gw = await startIamdb(gatewayConfig(target, 'master-pg'));
    ep = gw.endpoint('master-pg');
    await asSuperuser(target, (c) => c.query(`CREATE ROLE ${mgr} LOGIN CREATEROLE PASSWORD '${mgrPassword}'`));
  }, 120_000);
  afterAll(async () => {
    await gw?.stop();
    await server?.stop();
  });

  it('refuses a token for the master after a CREATEROLE role put it in rds_iam, and never changes its password', async () => {
    const before = await asSuperuser(target, (c) => c.query<{ p: string }>(`SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1`, [target.user]));
    // A CREATEROLE role (not a superuser) grants rds_iam to the master, through the gateway.
    const grant = await runPsql(
      `host=${ep.host} port=${ep.port} dbname=postgres user=${mgr} sslmode=verify-full sslrootcert=${gw.caPath} password=${mgrPassword}`,
      `GRANT rds_iam TO ${target.user}`,
    );
    expect(grant.stderr).toBe('');
    const token = signToken(ep, target.user, key);
    const err = await pgLoginAs(ep, gw.caPath, target.user, token).catch((e: Error) => e);
    expect(String(err)).toContain(`PAM authentication failed for user "${target.user}"`);
    const ev = gw.lastAuth();
    expect(ev).toMatchObject({ decision: 'deny', reason: 'MasterNotIamUser', dbUser: target.user });
    // The master still logs in with its own password, and the audit log says why it is not IAM.
    expect(await pgLoginAs(ep, gw.caPath, target.user, target.password)).toBe(target.user);
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin', method: 'password' });
    expect(gw.lastAuth()?.detail).toContain('member of rds_iam');
    const after = await asSuperuser(target, (c) => c.query<{ p: string }>(`SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1`, [target.user]));
    expect(after.rows[0]!.p).toBe(before.rows[0]!.p);
    expect(gw.logLines().some((l) => String(l['msg']).includes('master user is a member of rds_iam'))).toBe(true);
  });
});

describe('replacing a credential changed behind the gateway (PostgreSQL)', () => {
  const shared = inject('iamdbPostgres');
  const target = { host: shared.host, port: shared.port, user: shared.user, password: shared.password };
  const user = `rot_${suffix}`;
  let gw: TestIamdb;
  let ep: Endpoint;

  beforeAll(async () => {
    gw = await startIamdb(gatewayConfig(target, 'rotate-pg'));
    ep = gw.endpoint('rotate-pg');
    await asSuperuser(target, (c) => c.query(`CREATE USER ${user}; GRANT rds_iam TO ${user}`));
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('replaces it once for eight logins that fail together, and every one of them gets in', async () => {
    expect(await pgLoginAs(ep, gw.caPath, user, signToken(ep, user, key))).toBe(user);
    const id = ManagedCredentials.key('rotate-pg', user);
    const created = await gw.app.store.get('db-credential', id);
    expect(created?.version).toBe(1);
    // Someone changes the password directly on the server.
    await asSuperuser(target, (c) => c.query(`ALTER ROLE ${user} PASSWORD '${randomBytes(12).toString('hex')}'`));
    const logins = await Promise.allSettled(Array.from({ length: 8 }, () => pgLoginAs(ep, gw.caPath, user, signToken(ep, user, key))));
    expect(logins.map((l) => (l.status === 'fulfilled' ? l.value : String(l.reason)))).toEqual(Array(8).fill(user));
    const replaced = await gw.app.store.get('db-credential', id);
    expect(replaced?.version).toBe(2);
  });

  it('keeps an IAM user an IAM user when she sets her own password: her membership in rds_iam decides, not her password', async () => {
    const self = `self_${suffix}`;
    await asSuperuser(target, (c) => c.query(`CREATE USER ${self}; GRANT rds_iam TO ${self}`));
    const c = new pg.Client({ host: ep.host, port: ep.port, user: self, password: signToken(ep, self, key), database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
    await c.connect();
    await c.query(`ALTER ROLE CURRENT_USER PASSWORD 'mine-now'`);
    await c.end();
    const withPassword = await pgLoginAs(ep, gw.caPath, self, 'mine-now').catch((e: Error) => String(e));
    expect(withPassword).toContain(`PAM authentication failed for user "${self}"`);
    expect(gw.lastAuth()).toMatchObject({ reason: 'InvalidToken', method: 'iam' });
    expect(await pgLoginAs(ep, gw.caPath, self, signToken(ep, self, key))).toBe(self);
  });
});
