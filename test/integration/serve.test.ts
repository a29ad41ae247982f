/**
 * `iamdb serve` as a process: it starts from a YAML file, serves, and on
 * SIGTERM stops accepting, lets open sessions finish, then exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { ensureBuilt, IAMDB_BIN } from '../support/build.js';
import { getFreePort } from '../support/free-port.js';

const server = inject('iamdbPostgres');
let dir: string;
let child: ChildProcess | undefined;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'iamdb-serve-'));
});
afterAll(() => {
  child?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('serves from a YAML file and drains on SIGTERM', async () => {
  const port = await getFreePort();
  writeFileSync(
    join(dir, 'iamdb.yaml'),
    stringify({
      account: '123456789012',
      region: 'us-east-1',
      stateDir: './state',
      gateway: { drainTimeoutMs: 30_000 },
      instances: [
        {
          id: 'orders-pg',
          engine: 'postgres',
          listen: `127.0.0.1:${port}`,
          target: `${server.host}:${server.port}`,
          master: { username: server.user, password: server.password },
          iamDatabaseAuthentication: true,
        },
      ],
    }),
  );
  child = spawn(process.execPath, [IAMDB_BIN, 'serve', '--config', join(dir, 'iamdb.yaml')], {
    cwd: dir,
    env: { PATH: process.env['PATH'], IAMDB_MASTER_KEY: randomBytes(32).toString('hex') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child!.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (out.includes('endpoint listening')) resolve();
    };
    child!.stdout!.on('data', check);
    child!.on('exit', () => reject(new Error(`serve exited early:\n${out}`)));
  });

  const ca = readFileSync(join(dir, 'state', 'ca.pem'));
  const client = new pg.Client({ host: '127.0.0.1', port, user: server.user, password: server.password, database: 'postgres', ssl: { ca } });
  await client.connect();
  expect((await client.query('select 1 as one')).rows[0]).toEqual({ one: 1 });

  child.kill('SIGTERM');
  child.kill('SIGTERM'); // a second signal is harmless
  // Wait until the listener is closed: new connections are refused...
  for (;;) {
    const probe = new pg.Client({ host: '127.0.0.1', port, user: server.user, password: server.password, database: 'postgres', ssl: { ca }, connectionTimeoutMillis: 2_000 });
    const refused = await probe.connect().then(
      () => false,
      () => true,
    );
    if (refused) break;
    await probe.end();
  }
  // ...while the open session still works until its client leaves.
  expect((await client.query('select 2 as two')).rows[0]).toEqual({ two: 2 });
  await client.end();
  expect(await exited).toBe(0);
  expect(out).toContain('draining');
  expect(out).not.toContain(server.password);
});
