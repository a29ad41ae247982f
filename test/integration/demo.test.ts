/**
 * The Quickstart's `iamdb demo`, run as a user would (the built CLI), then
 * followed as its printed instructions say: a token from `iamdb
 * generate-db-auth-token` logs in with psql over verified TLS, and the AWS
 * CLI drives the control plane with the bootstrap administrator's key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, IAMDB_BIN } from '../support/build.js';
import { runAwsCli, runPsql } from '../support/clients.js';
import { runCommand } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';

let dir: string;
let child: ChildProcess;
let printed = '';
let port: number;
let apiPort: number;
const env = () => ({ PATH: process.env['PATH'] ?? '', HOME: dir, IAMDB_MASTER_KEY: masterKey });
const masterKey = randomBytes(32).toString('hex');

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'iamdb-demo-'));
  port = await getFreePort();
  apiPort = await getFreePort();
  child = spawn(process.execPath, [IAMDB_BIN, 'demo', '--port', String(port), '--api-port', String(apiPort)], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      printed += c.toString();
      if (printed.includes('Stop with Ctrl-C')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`demo exited with ${code} before it was ready: ${printed}`)));
  });
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('iamdb demo', () => {
  it('logs in with the printed commands', async () => {
    const creds = join(dir, '.iamdb', 'demo', 'credentials');
    expect(printed).toContain(`export AWS_SHARED_CREDENTIALS_FILE=${creds} AWS_PROFILE=iamdb-demo AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1`);
    const token = await runCommand(process.execPath, [IAMDB_BIN, 'generate-db-auth-token', '--hostname', '127.0.0.1', '--port', String(port), '--username', 'alice'], {
      env: { ...env(), AWS_SHARED_CREDENTIALS_FILE: creds, AWS_PROFILE: 'iamdb-demo', AWS_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null' },
    });
    expect(token.code, token.stderr).toBe(0);
    const r = await runPsql(`host=127.0.0.1 port=${port} dbname=postgres user=alice sslmode=verify-full sslrootcert=${join(dir, '.iamdb', 'demo', 'ca.pem')} password=${token.stdout.trim()}`, 'select 1');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('1');
  });

  it('serves the control plane to the AWS CLI with the administrator key it printed', async () => {
    const adminCreds = join(dir, '.iamdb', 'admin-credentials');
    expect(printed).toContain(`AWS_SHARED_CREDENTIALS_FILE=${adminCreds} aws --profile iamdb-admin --region us-east-1 --endpoint-url http://127.0.0.1:${apiPort} iam list-users`);
    const out = await runAwsCli(['--profile', 'iamdb-admin', '--region', 'us-east-1', '--endpoint-url', `http://127.0.0.1:${apiPort}`, 'iam', 'list-users', '--output', 'json'], { AWS_SHARED_CREDENTIALS_FILE: adminCreds });
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout).Users.map((u: { UserName: string }) => u.UserName).sort()).toEqual(['alice', 'iamdb-admin']);
  });
});
