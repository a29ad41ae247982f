/**
 * `iamdb demo`'s printed instructions work with every AWS client, not only
 * the ones that read AWS_REGION (issue 9, item 6): AWS CLI v1 and boto3 read
 * only AWS_DEFAULT_REGION and fail with "You must specify a region" /
 * NoRegionError otherwise. Each client runs with nothing but what the demo
 * printed (plus PATH and an empty HOME): no AWS_* variable leaks in from the
 * test process, and no ~/.aws/config can supply a region.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, IAMDB_BIN } from '../support/build.js';
import { AWS_CLI, runPsql } from '../support/clients.js';
import { runCommand, type RunResult } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';

let dir: string;
let child: ChildProcess;
let printed = '';
let port: number;
const masterKey = randomBytes(32).toString('hex');

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'iamdb-region-'));
  port = await getFreePort();
  const apiPort = await getFreePort();
  child = spawn(process.execPath, [IAMDB_BIN, 'demo', '--port', String(port), '--api-port', String(apiPort)], {
    cwd: dir,
    env: { PATH: process.env['PATH'] ?? '', HOME: dir, IAMDB_MASTER_KEY: masterKey },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      printed += c.toString();
      if (printed.includes('Stop with Ctrl-C')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`demo exited with ${code} before it was ready: ${printed}`)));
  });
}, 60_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** The printed line that starts with `prefix` (indentation ignored). */
function printedLine(prefix: string): string {
  const line = printed.split('\n').map((l) => l.trim()).find((l) => l.startsWith(prefix));
  if (line === undefined) throw new Error(`the demo printed no line starting with ${prefix}:\n${printed}`);
  return line;
}

/** `NAME=value` words (values without spaces, as the demo prints them). */
function assignments(words: readonly string[]): Record<string, string> {
  return Object.fromEntries(words.map((w) => /^([A-Z_]+)=(\S*)$/.exec(w)).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]));
}

/** Only what the instructions give, plus a PATH to find the client and an empty HOME. */
function printedEnv(bin: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: `${dirname(bin)}:/usr/bin:/bin`, HOME: dir, AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '', ...extra };
}

/** An AWS CLI v1 on PATH, found by asking each `aws` for its version; undefined when there is none. */
async function findCliV1(): Promise<string | undefined> {
  const seen = new Set<string>();
  for (const d of (process.env['PATH'] ?? '').split(delimiter)) {
    const bin = join(d, 'aws');
    try {
      accessSync(bin, constants.X_OK);
    } catch {
      continue;
    }
    const real = realpathSync(bin);
    if (seen.has(real)) continue;
    seen.add(real);
    const v = await runCommand(bin, ['--version'], { env: { PATH: `${d}:/usr/bin:/bin`, HOME: tmpdir() }, timeoutMs: 60_000 });
    if (/^aws-cli\/1\./m.test(`${v.stdout}${v.stderr}`)) return bin;
  }
  return undefined;
}

const cliV1 = await findCliV1();
if (cliV1 === undefined) console.warn('[aws-clients-region] no AWS CLI v1 (aws-cli/1.x) on PATH: its cases are skipped');

/** Logs in as alice with a token, as the printed psql line does. */
async function loginWith(token: string): Promise<RunResult> {
  const conninfo = /^psql "([^"]+)"/.exec(printedLine('psql '))![1]!.replace('$TOKEN', token);
  return runPsql(conninfo, 'select 1');
}

describe('the demo\'s printed instructions with every AWS client', () => {
  const exported = () => assignments(printedLine('export ').split(/\s+/).slice(1));

  it('export the region under the name every client reads', () => {
    expect(exported()).toMatchObject({ AWS_DEFAULT_REGION: 'us-east-1', AWS_PROFILE: 'iamdb-demo' });
  });

  const tokenArgs = () => ['rds', 'generate-db-auth-token', '--hostname', '127.0.0.1', '--port', String(port), '--username', 'alice'];
  const viaCli = async (bin: string) => {
    const out = await runCommand(bin, tokenArgs(), { env: printedEnv(bin, exported()), timeoutMs: 60_000 });
    expect(out.code, out.stderr).toBe(0);
    const login = await loginWith(out.stdout.trim());
    expect(login.stderr).toBe('');
    expect(login.stdout.trim()).toBe('1');
  };

  it('log in with a token from AWS CLI v2', () => viaCli(AWS_CLI), 90_000);

  it.skipIf(cliV1 === undefined)('log in with a token from AWS CLI v1 (skipped when no aws-cli/1.x is on PATH)', () => viaCli(cliV1!), 90_000);

  it('log in with a token from boto3', async () => {
    const script = `import boto3, sys\nprint(boto3.client('rds').generate_db_auth_token(DBHostname='127.0.0.1', Port=int(sys.argv[1]), DBUsername='alice'))`;
    const out = await runCommand('/usr/bin/python3', ['-c', script, String(port)], { env: printedEnv('/usr/bin/python3', exported()), timeoutMs: 60_000 });
    expect(out.code, out.stderr).toBe(0);
    const login = await loginWith(out.stdout.trim());
    expect(login.stderr).toBe('');
    expect(login.stdout.trim()).toBe('1');
  }, 90_000);

  const adminLine = async (bin: string) => {
    // `NAME=value aws <args>`: the assignments become the environment, the rest the CLI's arguments.
    const words = printedLine('AWS_SHARED_CREDENTIALS_FILE=').split(/\s+/);
    const at = words.indexOf('aws');
    const out = await runCommand(bin, [...words.slice(at + 1), '--output', 'json'], { env: printedEnv(bin, assignments(words.slice(0, at))), timeoutMs: 60_000 });
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout).Users.map((u: { UserName: string }) => u.UserName).sort()).toEqual(['alice', 'iamdb-admin']);
  };

  it('drive the control plane with the printed administrator command, AWS CLI v2', () => adminLine(AWS_CLI), 90_000);

  it.skipIf(cliV1 === undefined)('drive the control plane with the printed administrator command, AWS CLI v1', () => adminLine(cliV1!), 90_000);
});
