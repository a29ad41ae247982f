/**
 * The PostgreSQL instance endpoint end to end: a real PostgreSQL 15 behind a
 * real iamdb, driven by psql and node-postgres with tokens from the Debian
 * AWS CLI and @aws-sdk/rds-signer.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Signer } from '@aws-sdk/rds-signer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runAwsCli, runPsql } from '../support/clients.js';
import { pgLoginAs } from '../support/gateway-clients.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbPostgres');
const suffix = randomBytes(3).toString('hex');
const alice = `alice_${suffix}`;
const bob = `bob_${suffix}`; // IAM user whose policy does not cover him
const carol = `carol_${suffix}`; // IAM user with an explicit deny
const pwUser = `pw_${suffix}`;
const pwUserPassword = randomBytes(12).toString('hex');
const aliceKey = newAccessKey();
const inactiveKey = newAccessKey();
const bobKey = newAccessKey();
const carolKey = newAccessKey();

let gw: TestIamdb;
/** Real time plus an offset the tests move, so expiry needs no waiting. */
const clock = { offsetMs: 0, now(): number { return Date.now() + this.offsetMs; } };
let host: string;
let port: number;

function connectArn(user: string): string {
  return `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${user}`;
}

function sign(opts: { user?: string; key?: { id: string; secret: string }; host?: string; port?: number; region?: string; date?: Date; sessionToken?: string }): string {
  const key = opts.key ?? aliceKey;
  return presignDbAuthToken({
    hostname: opts.host ?? host,
    port: opts.port ?? port,
    username: opts.user ?? alice,
    region: opts.region ?? REGION,
    credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret), ...(opts.sessionToken ? { sessionToken: new Secret(opts.sessionToken) } : {}) },
    date: opts.date ?? new Date(),
  }).reveal();
}

function conn(user: string, password: string, sslmode = 'verify-full'): string {
  return `host=${host} port=${port} dbname=postgres user=${user} sslmode=${sslmode} sslrootcert=${gw.caPath} password=${password}`;
}

function pgLogin(user: string, password: string): Promise<string> {
  return pgLoginAs({ host, port }, gw.caPath, user, password);
}

async function expectPamFailure(user: string, password: string, reason: string): Promise<void> {
  const r = await runPsql(conn(user, password), 'select 1');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain(`FATAL:  PAM authentication failed for user "${user}"`);
  expect(r.stderr).not.toContain('X-Amz-Signature');
  const ev = gw.lastAuth();
  expect(ev?.decision).toBe('deny');
  expect(ev?.dbUser).toBe(user);
  expect(ev?.reason).toBe(reason);
}

beforeAll(async () => {
  gw = await startIamdb({
    iam: {
      users: [
        {
          name: 'alice',
          accessKeys: [aliceKey, { ...inactiveKey, status: 'Inactive' }],
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: connectArn(alice) }] } }],
        },
        {
          name: 'bob',
          accessKeys: [bobKey],
          policies: [{ name: 'other-user', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: connectArn('someone_else') }] } }],
        },
        {
          name: 'carol',
          accessKeys: [carolKey],
          policies: [
            {
              name: 'allow-but-deny',
              document: {
                Version: '2012-10-17',
                Statement: [
                  { Effect: 'Allow', Action: 'rds-db:*', Resource: '*' },
                  { Sid: 'NoCarol', Effect: 'Deny', Action: 'rds-db:connect', Resource: connectArn(carol) },
                ],
              },
            },
          ],
        },
      ],
      roles: [
        {
          name: 'db-app',
          assumeRolePolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }] },
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: connectArn(alice) }] } }],
        },
      ],
    },
    instances: [
      {
        id: 'orders-pg',
        engine: 'postgres',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
      },
    ],
  }, { clock });
  ({ host, port } = gw.endpoint('orders-pg'));
  // As on RDS: the master user creates the IAM users through the endpoint.
  const setup = await runPsql(
    conn(server.user, server.password),
    [
      `CREATE USER ${alice}; GRANT rds_iam TO ${alice};`,
      `CREATE USER ${bob}; GRANT rds_iam TO ${bob};`,
      `CREATE USER ${carol}; GRANT rds_iam TO ${carol};`,
      `CREATE USER ${pwUser} PASSWORD '${pwUserPassword}';`,
    ].join('\n'),
  );
  expect(setup.stderr).toBe('');
  expect(setup.code).toBe(0);
});

afterAll(async () => {
  await gw?.stop();
});

describe('IAM logins through the PostgreSQL endpoint', () => {
  it('accepts a token from the Debian AWS CLI with psql over verified TLS', async () => {
    const t = await runAwsCli(['rds', 'generate-db-auth-token', '--hostname', host, '--port', String(port), '--username', alice, '--region', REGION], {
      AWS_ACCESS_KEY_ID: aliceKey.id,
      AWS_SECRET_ACCESS_KEY: aliceKey.secret,
    });
    expect(t.code).toBe(0);
    const token = t.stdout.trim();
    expect(token).toMatch(new RegExp(`^${host}:${port}/\\?Action=connect&DBUser=${alice}&`));
    const r = await runPsql(conn(alice, token), 'select current_user');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(alice);
    const ev = gw.lastAuth();
    expect(ev).toMatchObject({ decision: 'allow', reason: 'Allowed', method: 'iam', tls: true, dbUser: alice, principal: `arn:aws:iam::${ACCOUNT}:user/alice`, accessKeyId: aliceKey.id });
    expect(ev?.resource).toBe(`arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${gw.app.instances.get('orders-pg')!.resourceId}/${alice}`);
  });

  it('accepts a token from @aws-sdk/rds-signer with node-postgres', async () => {
    const signer = new Signer({ hostname: host, port, username: alice, region: REGION, credentials: { accessKeyId: aliceKey.id, secretAccessKey: aliceKey.secret } });
    expect(await pgLogin(alice, await signer.getAuthToken())).toBe(alice);
  });

  it('accepts a token signed for localhost when the endpoint listens on 127.0.0.1, and with the host in upper case', async () => {
    expect(await pgLogin(alice, sign({ host: 'LOCALHOST' }))).toBe(alice);
  });

  it('keeps an established session after its token has expired', async () => {
    const token = sign({});
    const client = new pg.Client({ host, port, user: alice, password: token, database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
    await client.connect();
    clock.offsetMs = 20 * 60_000;
    try {
      // The same token no longer opens a session...
      await expect(pgLogin(alice, token)).rejects.toThrow(/PAM authentication failed/);
      // ...but the one it opened goes on, as on RDS.
      expect((await client.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
    } finally {
      clock.offsetMs = 0;
      await client.end();
    }
  });

  it('refuses an expired token', async () => {
    await expectPamFailure(alice, sign({ date: new Date(Date.now() - 901_000) }), 'ExpiredToken');
  });
  it('refuses a token dated in the future beyond the skew', async () => {
    await expectPamFailure(alice, sign({ date: new Date(Date.now() + 10 * 60_000) }), 'FutureToken');
  });
  it('refuses a tampered token', async () => {
    const t = sign({});
    const at = t.indexOf('X-Amz-Signature=') + 'X-Amz-Signature='.length;
    const flipped = t[at] === 'a' ? 'b' : 'a';
    await expectPamFailure(alice, t.slice(0, at) + flipped + t.slice(at + 1), 'SignatureMismatch');
  });
  it('refuses a token signed for another host', async () => {
    await expectPamFailure(alice, sign({ host: 'db.example.com' }), 'WrongEndpoint');
  });
  it('refuses a token signed for another port', async () => {
    await expectPamFailure(alice, sign({ port: port + 1 }), 'WrongEndpoint');
  });
  it('refuses a token signed for another region', async () => {
    await expectPamFailure(alice, sign({ region: 'eu-west-1' }), 'WrongRegion');
  });
  it('refuses a token for another service', async () => {
    const t = sign({}).replace('%2Frds-db%2F', '%2Frds%2F');
    await expectPamFailure(alice, t, 'WrongService');
  });
  it('refuses a token for another database user', async () => {
    await expectPamFailure(alice, sign({ user: bob }), 'DBUserMismatch');
  });
  it('refuses a token with a duplicated DBUser parameter', async () => {
    const t = sign({}).replace(`DBUser=${alice}`, `DBUser=${alice}&DBUser=${alice}`);
    await expectPamFailure(alice, t, 'InvalidToken');
  });
  it('refuses a token signed with an unknown access key', async () => {
    await expectPamFailure(alice, sign({ key: newAccessKey() }), 'UnknownAccessKey');
  });
  it('refuses a token signed with an inactive access key', async () => {
    await expectPamFailure(alice, sign({ key: inactiveKey }), 'InactiveAccessKey');
  });
  it('refuses a principal whose policy does not cover the database user', async () => {
    await expectPamFailure(bob, sign({ user: bob, key: bobKey }), 'NotAuthorized');
  });
  it('refuses a principal with an explicit deny', async () => {
    await expectPamFailure(carol, sign({ user: carol, key: carolKey }), 'ExplicitDeny');
    expect(gw.lastAuth()?.matchedStatements?.join(' ')).toContain('NoCarol');
  });
  it('refuses an IAM login over plain TCP before reading any password', async () => {
    const r = await runPsql(conn(alice, sign({}), 'disable'), 'select 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`pg_hba.conf rejects connection for host "127.0.0.1", user "${alice}", database "postgres", SSL off`);
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'TlsRequired', tls: false });
  });
  it('accepts a token signed with temporary credentials of an assumed role, with the role session as principal', async () => {
    const creds = gw.app.sessions.issue(
      { principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/db-app/test-session`, accountId: ACCOUNT, type: 'assumed-role', roleName: 'db-app', roleArn: `arn:aws:iam::${ACCOUNT}:role/db-app`, sessionName: 'test-session' },
      900,
    );
    const t = await runAwsCli(['rds', 'generate-db-auth-token', '--hostname', host, '--port', String(port), '--username', alice, '--region', REGION], {
      AWS_ACCESS_KEY_ID: creds.accessKeyId,
      AWS_SECRET_ACCESS_KEY: creds.secretAccessKey.reveal(),
      AWS_SESSION_TOKEN: creds.sessionToken.reveal(),
    });
    expect(t.stdout).toContain('X-Amz-Security-Token=');
    const r = await runPsql(conn(alice, t.stdout.trim()), 'select current_user');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(alice);
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', principal: `arn:aws:sts::${ACCOUNT}:assumed-role/db-app/test-session`, accessKeyId: creds.accessKeyId });
    // A forged session token is refused.
    const forged = sign({ key: { id: creds.accessKeyId, secret: creds.secretAccessKey.reveal() }, sessionToken: creds.sessionToken.reveal().slice(0, -4) + 'AAAA' });
    await expectPamFailure(alice, forged, 'InvalidSessionToken');
    // Expired temporary credentials are refused.
    clock.offsetMs = 16 * 60_000;
    try {
      const later = sign({ key: { id: creds.accessKeyId, secret: creds.secretAccessKey.reveal() }, sessionToken: creds.sessionToken.reveal(), date: new Date(clock.now()) });
      await expectPamFailure(alice, later, 'ExpiredSessionCredentials');
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('never writes a token to the audit log', async () => {
    // Its own logins, one allowed and one refused, so the check never reads an empty log.
    const before = gw.audit.events.length;
    const authBefore = gw.authEvents().length;
    const allowed = sign({});
    expect(await pgLogin(alice, allowed)).toBe(alice);
    const refused = sign({ user: bob, key: bobKey });
    await expectPamFailure(bob, refused, 'NotAuthorized');
    const mine = gw.authEvents().slice(authBefore);
    expect(mine.map((e) => [e.dbUser, e.decision])).toEqual([[alice, 'allow'], [bob, 'deny']]);
    const lines = gw.audit.lines().slice(before).join('\n');
    for (const token of [allowed, refused]) {
      const signature = new URL(`https://${token}`).searchParams.get('X-Amz-Signature');
      expect(signature).toMatch(/^[0-9a-f]{64}$/);
      expect(lines).not.toContain(signature);
      expect(lines).not.toContain(token);
    }
    expect(lines).not.toContain('X-Amz-Signature=');
    expect(lines).not.toContain(aliceKey.secret);
    expect(lines).not.toContain(bobKey.secret);
  });
});

describe('state at rest', () => {
  it('keeps no secret in clear in the state directory', async () => {
    await gw.app.iam.flush();
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(gw.app.config.stateDirPath);
    expect(files.some((f) => f.endsWith('state.db'))).toBe(true);
    const managed = await gw.app.store.list('db-credential');
    expect(managed.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(f);
      for (const needle of [aliceKey.secret, bobKey.secret, server.password, 'PRIVATE KEY']) {
        expect(bytes.includes(Buffer.from(needle)), `${needle.slice(0, 4)}… in ${f}`).toBe(false);
      }
    }
  });
});

describe('password users and rds_iam through the PostgreSQL endpoint', () => {
  it('logs a password user in with their own password', async () => {
    expect(await pgLogin(pwUser, pwUserPassword)).toBe(pwUser);
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin', method: 'password' });
  });
  it('refuses a wrong password with the server\'s own error', async () => {
    const r = await runPsql(conn(pwUser, 'wrong'), 'select 1');
    expect(r.stderr).toContain(`password authentication failed for user "${pwUser}"`);
  });
  it('accepts only a token once rds_iam is granted, and a password again after REVOKE', async () => {
    const dave = `dave_${suffix}`;
    const davePw = randomBytes(8).toString('hex');
    const master = conn(server.user, server.password);
    expect((await runPsql(master, `CREATE USER ${dave} PASSWORD '${davePw}'`)).code).toBe(0);
    expect(await pgLogin(dave, davePw)).toBe(dave);
    expect((await runPsql(master, `GRANT rds_iam TO ${dave}`)).code).toBe(0);
    // Now a password is read as a token, and fails like any bad token.
    await expectPamFailure(dave, davePw, 'InvalidToken');
    expect((await runPsql(master, `REVOKE rds_iam FROM ${dave}; ALTER USER ${dave} PASSWORD '${davePw}'`)).code).toBe(0);
    expect(await pgLogin(dave, davePw)).toBe(dave);
  });
});

describe('CancelRequest and bad input', () => {
  it('cancels a running query through the gateway (psql Ctrl-C)', async () => {
    const client = new pg.Client({ host, port, user: alice, password: sign({}), database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
    await client.connect();
    const c = client as unknown as { processID: number; secretKey: number };
    // Settled as soon as it fails, so the rejection is never unhandled while we cancel.
    const running = client.query('select pg_sleep(30)').then(() => 'finished', (err: Error) => err.message);
    // Wait until the server really runs the query.
    const probe = new pg.Client({ host, port, user: alice, password: sign({}), database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
    await probe.connect();
    for (let i = 0; i < 200; i++) {
      const r = await probe.query("select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'");
      if (r.rows[0].n > 0) break;
    }
    await probe.end();
    const cancel = Buffer.alloc(16);
    cancel.writeInt32BE(16, 0);
    cancel.writeInt32BE(80877102, 4);
    cancel.writeInt32BE(c.processID, 8);
    cancel.writeInt32BE(c.secretKey, 12);
    await new Promise<void>((resolve) => {
      const s = netConnect({ host, port }, () => s.end(cancel));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    expect(await running).toMatch(/canceling statement due to user request/);
    await client.end();
  });

  it('ends a connection that sends bytes after SSLRequest before the TLS handshake', async () => {
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(80877103, 4);
    const extra = Buffer.from('Q\0\0\0\x0dselect 1\0', 'latin1');
    const reply = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = netConnect({ host, port }, () => s.write(Buffer.concat([ssl, extra])));
      s.on('data', (d) => chunks.push(d));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.on('error', () => resolve(Buffer.concat(chunks)));
    });
    // Closed without a TLS handshake ('S' is never sent once the stuffing is seen).
    expect(reply.includes(0x53)).toBe(false);
    // And the endpoint still serves others.
    expect(await pgLogin(alice, sign({}))).toBe(alice);
  });

  it('survives garbage, oversized lengths and abrupt disconnects while other sessions go on', async () => {
    const client = new pg.Client({ host, port, user: alice, password: sign({}), database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
    await client.connect();
    const payloads = [Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0]), Buffer.from([0, 0, 0, 3]), Buffer.alloc(0)];
    for (const p of payloads) {
      await new Promise<void>((resolve) => {
        const s = netConnect({ host, port }, () => (p.length ? s.write(p) : s.destroy()));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.setTimeout(5_000, () => s.destroy());
      });
    }
    // A TLS client that hangs up mid-login.
    await new Promise<void>((resolve) => {
      const ssl = Buffer.alloc(8);
      ssl.writeInt32BE(8, 0);
      ssl.writeInt32BE(80877103, 4);
      const s = netConnect({ host, port }, () => s.write(ssl));
      s.once('data', () => {
        const t = tlsConnect({ socket: s, rejectUnauthorized: false }, () => t.destroy());
        t.on('close', () => resolve());
        t.on('error', () => resolve());
      });
      s.on('error', () => resolve());
    });
    expect((await client.query('select 2 as two')).rows[0]).toEqual({ two: 2 });
    await client.end();
  });
});
