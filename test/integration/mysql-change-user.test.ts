/**
 * COM_CHANGE_USER through the MySQL endpoint (mysql2's changeUser()): a full
 * new authentication of the new user, audited like a login, with the
 * session's identity changing only when it succeeds; a refusal keeps the
 * session as the old user, as MariaDB does, and the fourth is refused as an
 * unknown command.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const alice = `cu_alice_${suffix}`;
const bob = `cu_bob_${suffix}`;
const carol = `cu_carol_${suffix}`; // an IAM user the key's policy does not cover
const pwUser = `cu_pw_${suffix}`;
const pwPassword = randomBytes(12).toString('hex');
const key = newAccessKey();

let gw: TestIamdb;
let host: string;
let port: number;

function token(user: string, date = new Date()): string {
  return presignDbAuthToken({ hostname: host, port, username: user, region: REGION, credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) }, date }).reveal();
}

function connect(user: string, password: string, ssl = true): Promise<mysql.Connection> {
  return mysql.createConnection({ host, port, user, password, enableCleartextPlugin: true, ...(ssl ? { ssl: { ca: readFileSync(gw.caPath) } } : {}) });
}

async function currentUser(conn: mysql.Connection): Promise<string> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
  return String(rows[0]!['u']);
}

const lastAuth = () => gw.lastAuth() as Record<string, unknown> | undefined;

beforeAll(async () => {
  gw = await startIamdb({
    iam: {
      users: [
        {
          name: 'app',
          accessKeys: [key],
          policies: [
            {
              name: 'connect',
              document: {
                Version: '2012-10-17',
                Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: [alice, bob].map((u) => `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${u}`) }],
              },
            },
          ],
        },
      ],
    },
    instances: [
      {
        id: 'cu-my',
        engine: 'mysql',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
      },
    ],
  });
  ({ host, port } = gw.endpoint('cu-my'));
  const master = await connect(server.user, server.password);
  for (const u of [alice, bob, carol]) await master.query(`CREATE USER ${u} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
  await master.query(`CREATE USER ${pwUser} IDENTIFIED BY '${pwPassword}'`);
  await master.end();
});

afterAll(async () => {
  await gw?.stop();
});

describe('COM_CHANGE_USER through the MySQL endpoint', () => {
  it('changes between IAM users with fresh tokens, and audits each change like a login', async () => {
    const conn = await connect(alice, token(alice));
    try {
      await conn.changeUser({ user: bob, password: token(bob) });
      expect(await currentUser(conn)).toBe(`${bob}@%`);
      expect(lastAuth()).toMatchObject({ decision: 'allow', reason: 'Allowed', dbUser: bob, method: 'iam', changeUser: true, principal: expect.stringContaining(':user/app') });
      await conn.changeUser({ user: alice, password: token(alice) });
      expect(await currentUser(conn)).toBe(`${alice}@%`);
      expect(lastAuth()).toMatchObject({ decision: 'allow', reason: 'Allowed', dbUser: alice, changeUser: true });
    } finally {
      await conn.end();
    }
  });

  it('changes to a password user, checked by the server, and back to an IAM user', async () => {
    const conn = await connect(alice, token(alice));
    try {
      await conn.changeUser({ user: pwUser, password: pwPassword });
      expect(await currentUser(conn)).toBe(`${pwUser}@%`);
      expect(lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin', dbUser: pwUser, method: 'password', changeUser: true });
      expect(lastAuth()).not.toHaveProperty('principal');
      await conn.changeUser({ user: alice, password: token(alice) });
      expect(await currentUser(conn)).toBe(`${alice}@%`);
    } finally {
      await conn.end();
    }
  });

  it('resets the session when a client changes to the same user (a pool or PHP reset)', async () => {
    const conn = await connect(alice, token(alice));
    try {
      await conn.query('SET @kept = 42');
      await conn.changeUser({ user: alice, password: token(alice) });
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT @kept AS k, CURRENT_USER() AS u');
      expect(rows[0]).toEqual({ k: null, u: `${alice}@%` });
    } finally {
      await conn.end();
    }
  });

  it('refuses an expired token and a user the policy does not cover, keeping the session as the old user', async () => {
    const conn = await connect(alice, token(alice));
    try {
      await expect(conn.changeUser({ user: bob, password: token(bob, new Date(Date.now() - 3_600_000)) })).rejects.toThrow(
        `Access denied for user '${bob}'@'127.0.0.1' (using password: YES)`,
      );
      expect(lastAuth()).toMatchObject({ decision: 'deny', reason: 'ExpiredToken', dbUser: bob, changeUser: true });
      expect(await currentUser(conn)).toBe(`${alice}@%`);
      await expect(conn.changeUser({ user: carol, password: token(carol) })).rejects.toThrow(/Access denied/);
      expect(lastAuth()).toMatchObject({ decision: 'deny', reason: 'NotAuthorized', dbUser: carol });
      expect(await currentUser(conn)).toBe(`${alice}@%`);
    } finally {
      await conn.end();
    }
    // Later events of this session still name alice.
    const sessionId = lastAuth()!['sessionId'];
    await vi.waitFor(() => expect(gw.audit.events.find((e) => e.event === 'db.session.end' && e.sessionId === sessionId)).toMatchObject({ dbUser: alice }));
  });

  it("refuses a wrong password with the server's answer and keeps the session; the fourth change is an unknown command", async () => {
    const conn = await connect(alice, token(alice));
    try {
      await expect(conn.changeUser({ user: pwUser, password: 'wrong' })).rejects.toThrow(`Access denied for user '${pwUser}'@'127.0.0.1' (using password: YES)`);
      expect(lastAuth()).toMatchObject({ decision: 'deny', reason: 'UpstreamAuthFailed', dbUser: pwUser });
      expect(await currentUser(conn)).toBe(`${alice}@%`);
      await expect(conn.changeUser({ user: bob, password: 'not a token' })).rejects.toThrow(/Access denied/);
      await expect(conn.changeUser({ user: bob, password: 'not a token' })).rejects.toThrow(/Access denied/);
      await expect(conn.changeUser({ user: bob, password: token(bob) })).rejects.toThrow('Unknown command');
      expect(lastAuth()).toMatchObject({ decision: 'deny', reason: 'ChangeUserRefused' });
      expect(await currentUser(conn)).toBe(`${alice}@%`);
    } finally {
      await conn.end();
    }
  });

  it('never takes a token without TLS, even from a session that is already in', async () => {
    const conn = await connect(server.user, server.password, false);
    try {
      await expect(conn.changeUser({ user: alice, password: token(alice) })).rejects.toThrow(/Access denied/);
      expect(lastAuth()).toMatchObject({ decision: 'deny', reason: 'TlsRequired', dbUser: alice, tls: false });
      expect(await currentUser(conn)).toMatch(new RegExp(`^${server.user}@`));
    } finally {
      await conn.end();
    }
  });

  it("recomputes account rights for the new user: the master's session, changed to an IAM user, may not drop an IAM account", async () => {
    const conn = await connect(server.user, server.password);
    try {
      await conn.changeUser({ user: alice, password: token(alice) });
      await expect(conn.query(`DROP USER ${bob}`)).rejects.toMatchObject({ errno: 1227 });
      expect(gw.audit.events.filter((e) => e.event === 'db.account').at(-1)).toMatchObject({ decision: 'deny', reason: 'IamAccountProtected', dbUser: alice, admin: false });
    } finally {
      await conn.end();
    }
  });
});
