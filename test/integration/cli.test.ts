/**
 * The built CLI (`node bin/iamdb.js`) as a user runs it. Tokens are compared
 * with the ones Debian's AWS CLI v2 (/usr/bin/aws) prints for the same inputs:
 * same host:port prefix, same set of query keys, same DBUser,
 * credential scope and expiry. Needs no database server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/index.js';
import { ensureBuilt, IAMDB_BIN, REPO_ROOT } from '../support/build.js';
import { runAwsCli } from '../support/clients.js';
import { runCommand, type RunResult } from '../support/exec.js';

const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const PROFILE_KEY_ID = 'AKIAI44QH8DHBEXAMPLE';
const PROFILE_SECRET = 'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY';

let dir: string;
let credentialsFile: string;
let configFile: string;

/** A clean environment: no inherited AWS_* variables, no ~/.aws, no instance metadata. */
function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    AWS_CONFIG_FILE: configFile,
    AWS_SHARED_CREDENTIALS_FILE: credentialsFile,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
    ...extra,
  };
}

function runIamdb(args: string[], env: Record<string, string>): Promise<RunResult> {
  return runCommand(process.execPath, [IAMDB_BIN, ...args], { env, timeoutMs: 30_000 });
}

interface ParsedToken {
  prefix: string;
  keys: string[];
  params: URLSearchParams;
}

function parseToken(token: string): ParsedToken {
  const t = token.trim();
  const q = t.indexOf('/?');
  expect(q, `token has a /? separator: ${t.slice(0, 40)}`).toBeGreaterThan(0);
  const params = new URLSearchParams(t.slice(q + 2));
  return { prefix: t.slice(0, q), keys: [...params.keys()], params };
}

const tokenArgs = (host: string, port: number, user: string, extra: string[] = []): string[] => [
  '--hostname', host, '--port', String(port), '--username', user, ...extra,
];

/** Runs both tools with the same inputs and checks the tokens agree in form. */
async function compareTokens(args: string[], env: Record<string, string>): Promise<{ ours: ParsedToken; aws: ParsedToken }> {
  const [ours, aws] = await Promise.all([
    runIamdb(['generate-db-auth-token', ...args], env),
    runAwsCli(['rds', 'generate-db-auth-token', ...args], env),
  ]);
  expect(aws.code, `aws: ${aws.stderr}`).toBe(0);
  expect(ours.code, `iamdb: ${ours.stderr}`).toBe(0);
  expect(ours.stdout.endsWith('\n')).toBe(true);
  expect(ours.stdout.trim().split('\n')).toHaveLength(1);
  const a = parseToken(aws.stdout);
  const o = parseToken(ours.stdout);
  expect(o.prefix).toBe(a.prefix);
  expect([...o.keys].sort()).toEqual([...a.keys].sort());
  expect(new Set(o.keys).size).toBe(o.keys.length);
  for (const key of ['Action', 'DBUser', 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Security-Token']) {
    expect(o.params.get(key), key).toBe(a.params.get(key));
  }
  expect(o.params.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  expect(o.params.get('X-Amz-Date')).toMatch(/^\d{8}T\d{6}Z$/);
  return { ours: o, aws: a };
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'iamdb-cli-'));
  credentialsFile = join(dir, 'credentials');
  configFile = join(dir, 'config');
  writeFileSync(credentialsFile, `[dev]\naws_access_key_id = ${PROFILE_KEY_ID}\naws_secret_access_key = ${PROFILE_SECRET}\n`, { mode: 0o600 });
  writeFileSync(configFile, '[profile dev]\nregion = eu-west-2\n\n[profile noregion]\noutput = json\n');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('iamdb generate-db-auth-token', () => {
  it('prints a token in the AWS CLI format, with env credentials and AWS_REGION', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: 'us-east-1' });
    const { ours } = await compareTokens(tokenArgs('db.example.internal', 7432, 'alice'), env);
    expect(ours.prefix).toBe('db.example.internal:7432');
    expect(ours.params.get('DBUser')).toBe('alice');
    expect(ours.params.get('X-Amz-Credential')).toMatch(new RegExp(`^${ACCESS_KEY_ID}/\\d{8}/us-east-1/rds-db/aws4_request$`));
    expect(ours.params.get('X-Amz-Expires')).toBe('900');
    expect(ours.params.has('X-Amz-Security-Token')).toBe(false);
  });

  // Known mismatch (src/sigv4/presign.ts:93-95): iamdb sorts X-Amz-Signature in
  // with the other keys, as @aws-sdk/rds-signer does; the AWS CLI (botocore)
  // appends it last. Same keys and signature, different order. Flip to `it`
  // once the CLI command emits the AWS CLI order.
  it('orders the query keys as the AWS CLI does (X-Amz-Signature last)', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: 'us-east-1' });
    const args = ['generate-db-auth-token', ...tokenArgs('127.0.0.1', 7432, 'alice')];
    const [ours, aws] = await Promise.all([runIamdb(args, env), runAwsCli(['rds', ...args], env)]);
    expect(parseToken(ours.stdout).keys).toEqual(parseToken(aws.stdout).keys);
  });

  it('encodes unusual user names the same way', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: 'us-east-1' });
    await compareTokens(tokenArgs('127.0.0.1', 3306, 'app user+1@x'), env);
  });

  it('takes --region over AWS_REGION', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: 'us-east-1' });
    const { ours } = await compareTokens(tokenArgs('127.0.0.1', 7432, 'alice', ['--region', 'ap-southeast-2']), env);
    expect(ours.params.get('X-Amz-Credential')).toContain('/ap-southeast-2/rds-db/');
  });

  it('adds X-Amz-Security-Token for temporary credentials', async () => {
    const sessionToken = `IQoJb3JpZ2luX2VjE${randomBytes(48).toString('base64')}`;
    const env = baseEnv({ AWS_ACCESS_KEY_ID: 'ASIAIOSFODNN7EXAMPLE', AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_SESSION_TOKEN: sessionToken, AWS_REGION: 'us-west-2' });
    const { ours } = await compareTokens(tokenArgs('127.0.0.1', 7432, 'alice'), env);
    expect(ours.params.get('X-Amz-Security-Token')).toBe(sessionToken);
  });

  it('uses --profile from the shared credentials file and the region from its config', async () => {
    const { ours } = await compareTokens(tokenArgs('127.0.0.1', 7432, 'bob', ['--profile', 'dev']), baseEnv());
    expect(ours.params.get('X-Amz-Credential')).toMatch(new RegExp(`^${PROFILE_KEY_ID}/\\d{8}/eu-west-2/rds-db/aws4_request$`));
  });

  it('uses AWS_PROFILE like --profile', async () => {
    const { ours } = await compareTokens(tokenArgs('127.0.0.1', 7432, 'bob'), baseEnv({ AWS_PROFILE: 'dev' }));
    expect(ours.params.get('X-Amz-Credential')).toContain(`${PROFILE_KEY_ID}/`);
    expect(ours.params.get('X-Amz-Credential')).toContain('/eu-west-2/');
  });

  it('exits 2 with a clear message when no region is known', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY });
    const result = await runIamdb(['generate-db-auth-token', ...tokenArgs('127.0.0.1', 7432, 'alice')], env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^iamdb: You must specify a region\./);
    expect(result.stderr).toContain('--region');
    expect(result.stderr).toContain('AWS_REGION');
    const aws = await runAwsCli(['rds', 'generate-db-auth-token', ...tokenArgs('127.0.0.1', 7432, 'alice')], env);
    expect(aws.code).not.toBe(0);
    expect(aws.stderr).toMatch(/specify a region/i);
  });

  it('exits 2 when the profile has no region either', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY });
    const result = await runIamdb(['generate-db-auth-token', ...tokenArgs('127.0.0.1', 7432, 'alice', ['--profile', 'noregion'])], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('region');
  });

  it('never prints the secret key', async () => {
    const env = baseEnv({ AWS_ACCESS_KEY_ID: ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: 'us-east-1' });
    const result = await runIamdb(['generate-db-auth-token', ...tokenArgs('127.0.0.1', 7432, 'alice')], env);
    expect(result.stdout + result.stderr).not.toContain(SECRET_KEY);
    expect(result.stdout + result.stderr).not.toContain(encodeURIComponent(SECRET_KEY));
  });
});

describe('iamdb config check', () => {
  it('prints every problem with its path and exits 2', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      [
        'account: "12345"',
        'instances:',
        '  - { id: a, engine: postgres, listen: "127.0.0.1:99999", target: "127.0.0.1:5432", master: { username: u, password: p } }',
        '  - { id: b, engine: oracle, listen: "127.0.0.1:7433", target: "127.0.0.1:1521", master: { username: u, password: p } }',
      ].join('\n'),
    );
    const result = await runIamdb(['config', 'check', '-c', bad], baseEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^iamdb: invalid configuration:\n/);
    expect(result.stderr).toMatch(/^ {2}account: account ids are 12 digits$/m);
    expect(result.stderr).toMatch(/^ {2}instances\[0\]\.listen: port must be 1-65535$/m);
    expect(result.stderr).toMatch(/^ {2}instances\[1\]\.engine: /m);
  });

  it('says OK for the example configuration', async () => {
    const result = await runIamdb(['config', 'check', '-c', join(REPO_ROOT, 'iamdb.example.yaml')], baseEnv());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/iamdb\.example\.yaml: OK \(2 instance\(s\), 1 user\(s\), 1 role\(s\)\)/);
  });

  it('exits 2 for a missing file', async () => {
    const result = await runIamdb(['config', 'check', '-c', join(dir, 'missing.yaml')], baseEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('cannot read configuration file');
  });
});

describe('iamdb ca export', () => {
  it('prints the CA certificate once an app has run on the state dir', async () => {
    const stateDir = join(dir, 'state');
    const env = { IAMDB_MASTER_KEY: randomBytes(32).toString('hex'), XDG_CONFIG_HOME: join(dir, 'xdg') };
    const config = loadConfig({ text: `stateDir: ${JSON.stringify(stateDir)}\nlog: { level: silent }\n`, env });
    const app = await createApp(config, { env });
    const expected = app.ca.caBundlePem();
    await app.close();

    const result = await runIamdb(['ca', 'export', '--state-dir', stateDir], baseEnv());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+\n-----END CERTIFICATE-----\n$/);
    expect(result.stdout.trim()).toBe(expected.trim());
  });

  it('exits 2 and says what to do when the state dir has no state', async () => {
    const result = await runIamdb(['ca', 'export', '--state-dir', join(dir, 'empty')], baseEnv());
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('start iamdb once');
  });
});
