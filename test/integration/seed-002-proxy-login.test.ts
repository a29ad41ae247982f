/**
 * Seed 002's RDS Proxy setup as its reader runs it, with Debian's unmodified
 * AWS CLI and `--endpoint-url` only: one secret per database user, the role
 * that rds.amazonaws.com may assume with the seed's GetSecretValue and
 * kms:Decrypt (kms:ViaService) policy, the proxy, the seed's
 * `modify-db-proxy --auth … …` (IAM required for one secret, not for the
 * other), the target registered, `describe-db-proxy-targets` polled until
 * AVAILABLE; then psql (a POSTGRESQL proxy) and the mariadb client (a MYSQL
 * proxy) log in through the proxy with a token from
 * `aws rds generate-db-auth-token` and, as the other user, with the secret's
 * password.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runAwsCli, runMariadb, runPsql } from '../support/clients.js';
import { waitFor } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbPostgres');
const maria = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const alice = `alice_${suffix}`;
const other = `anotheruser_${suffix}`;
const alicePassword = `pa-${randomBytes(8).toString('hex')}`;
const otherPassword = `po-${randomBytes(8).toString('hex')}`;
let gw: TestIamdb;
let policyDir = '';

async function aws(...args: string[]): Promise<Record<string, unknown>> {
  const out = await runAwsCli([...args, '--endpoint-url', gw.apiUrl, '--region', REGION, '--output', 'json'], { AWS_ACCESS_KEY_ID: gw.admin.id, AWS_SECRET_ACCESS_KEY: gw.admin.secret });
  expect(out.code, out.stderr).toBe(0);
  return out.stdout.trim() === '' ? {} : (JSON.parse(out.stdout) as Record<string, unknown>);
}

beforeAll(async () => {
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=require`;
  expect((await runPsql(master, `CREATE USER ${alice} PASSWORD '${alicePassword}'; CREATE USER ${other} PASSWORD '${otherPassword}'`)).stderr).toBe('');
  const mariaAdmin = ['-h', maria.host, '-P', String(maria.port), '-u', maria.user, `-p${maria.password}`, '--ssl', `--ssl-ca=${maria.caCertPath}`];
  const made = await runMariadb(mariaAdmin, `CREATE USER '${alice}'@'%' IDENTIFIED BY '${alicePassword}'; CREATE USER '${other}'@'%' IDENTIFIED BY '${otherPassword}'`);
  expect(made.stderr).toBe('');
  const first = await getFreePort();
  gw = await startIamdb({
    api: { listen: 'auto' },
    instances: [
      { id: `seed2-pg-${suffix}`, engine: 'postgres', listen: 'auto', target: `${server.host}:${server.port}`, targetTls: { mode: 'disable' }, master: { username: server.user, password: server.password } },
      { id: `seed2-maria-${suffix}`, engine: 'mariadb', listen: 'auto', target: `${maria.host}:${maria.port}`, master: { username: maria.user, password: maria.password } },
    ],
    proxyEndpoints: { listenHost: '127.0.0.1', ports: `${first}-${Math.min(first + 10, 65535)}` },
  });
  policyDir = gw.stateDir;
});

afterAll(() => gw?.stop());

type Family = 'POSTGRESQL' | 'MYSQL';

/** The seed's steps up to a proxy whose target is AVAILABLE; its endpoint's host and port. */
async function seedProxy(family: Family): Promise<{ name: string; host: string; port: number }> {
  const tag = family === 'POSTGRESQL' ? 'pg' : 'maria';
  const secretOf = async (user: string, password: string): Promise<string> =>
    (await aws('secretsmanager', 'create-secret', '--name', `rdsproxy_${tag}_${user}`, '--description', `database user ${user}`, '--secret-string', JSON.stringify({ username: user, password })))['ARN'] as string;
  const aliceSecret = await secretOf(alice, alicePassword);
  const otherSecret = await secretOf(other, otherPassword);
  const keyArn = ((await aws('kms', 'describe-key', '--key-id', 'alias/aws/secretsmanager'))['KeyMetadata'] as { Arn: string }).Arn;

  const trust = join(policyDir, `trust-${tag}.json`);
  const access = join(policyDir, `access-${tag}.json`);
  await writeFile(trust, JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: '', Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] }));
  await writeFile(
    access,
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: [aliceSecret, otherSecret] },
        { Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn, Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } } },
      ],
    }),
  );
  const roleName = `rds-proxy-secrets-${tag}`;
  const roleArn = ((await aws('iam', 'create-role', '--role-name', roleName, '--assume-role-policy-document', `file://${trust}`))['Role'] as { Arn: string }).Arn;
  await aws('iam', 'put-role-policy', '--role-name', roleName, '--policy-name', 'secrets', '--policy-document', `file://${access}`);

  const name = `my-rds-proxy-${tag}`;
  await aws('rds', 'create-db-proxy', '--db-proxy-name', name, '--engine-family', family, '--role-arn', roleArn, '--vpc-subnet-ids', 'subnet-0123', '--require-tls',
    '--auth', `AuthScheme=SECRETS,SecretArn=${aliceSecret},IAMAuth=REQUIRED`);
  // The seed's command: IAM for the access user, the secret's password for the other.
  await aws('rds', 'modify-db-proxy', '--db-proxy-name', name, '--auth', `AuthScheme=SECRETS,SecretArn=${aliceSecret},IAMAuth=REQUIRED`, `AuthScheme=SECRETS,SecretArn=${otherSecret},IAMAuth=DISABLED`);
  await aws('rds', 'register-db-proxy-targets', '--db-proxy-name', name, '--db-instance-identifiers', `seed2-${tag}-${suffix}`);
  await waitFor('the target AVAILABLE', async () => {
    const t = ((await aws('rds', 'describe-db-proxy-targets', '--db-proxy-name', name))['Targets'] as { TargetHealth: { State: string } }[])[0]!;
    if (t.TargetHealth.State !== 'AVAILABLE') throw new Error(JSON.stringify(t.TargetHealth));
  }, 60_000, 200);
  const proxy = ((await aws('rds', 'describe-db-proxies', '--db-proxy-name', name))['DBProxies'] as { Endpoint: string; Status: string }[])[0]!;
  expect(proxy.Status).toBe('available');
  return { name, host: proxy.Endpoint, port: gw.app.proxies.get(name)!.endpoints[0]!.listen.port };
}

async function cliToken(host: string, port: number, user: string): Promise<string> {
  const run = await runAwsCli(['rds', 'generate-db-auth-token', '--hostname', host, '--port', String(port), '--username', user, '--region', REGION], {
    AWS_ACCESS_KEY_ID: gw.admin.id,
    AWS_SECRET_ACCESS_KEY: gw.admin.secret,
  });
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim();
}

function expectLogins(proxyName: string): void {
  const logins = gw.authEvents().filter((e) => e.proxy === proxyName && e.decision === 'allow');
  expect(logins.map((e) => [e.dbUser, e.method])).toEqual([
    [alice, 'iam'],
    [other, 'password'],
  ]);
  expect(logins[0]!.principal).toMatch(new RegExp(`^arn:aws:iam::${ACCOUNT}:user/`));
}

describe("seed 002's RDS Proxy, end to end with the AWS CLI", () => {
  it('PostgreSQL: sets up secrets, the role and the proxy, waits for AVAILABLE, then psql logs in with a token and with a password', async () => {
    const p = await seedProxy('POSTGRESQL');
    const conn = (user: string): string => `host=${p.host} port=${p.port} dbname=postgres user=${user} sslmode=verify-full sslrootcert=${gw.caPath}`;
    const viaToken = await runPsql(conn(alice), 'SELECT current_user', { PGPASSWORD: await cliToken(p.host, p.port, alice) });
    expect(viaToken.stderr).toBe('');
    expect(viaToken.stdout.trim()).toBe(alice);
    const viaPassword = await runPsql(conn(other), 'SELECT current_user', { PGPASSWORD: otherPassword });
    expect(viaPassword.stderr).toBe('');
    expect(viaPassword.stdout.trim()).toBe(other);
    // IAMAuth REQUIRED: alice's own database password is not accepted at the proxy.
    expect((await runPsql(conn(alice), 'SELECT 1', { PGPASSWORD: alicePassword })).code).not.toBe(0);
    expectLogins(p.name);
  });

  it('MariaDB: the same with a MYSQL proxy, and the mariadb client logs in with a token and with a password', async () => {
    const p = await seedProxy('MYSQL');
    const args = (user: string, password: string): string[] => ['-h', p.host, '-P', String(p.port), '-u', user, `-p${password}`, '--ssl', `--ssl-ca=${gw.caPath}`, '--ssl-verify-server-cert'];
    const viaToken = await runMariadb([...args(alice, await cliToken(p.host, p.port, alice)), '--enable-cleartext-plugin'], 'SELECT CURRENT_USER()');
    expect(viaToken.code, viaToken.stderr).toBe(0);
    // The client warns that --enable-cleartext-plugin is obsolete (10.11 needs no flag): the answer is the last line.
    expect(viaToken.stdout.trim().split('\n').at(-1)).toBe(`${alice}@%`);
    const viaPassword = await runMariadb(args(other, otherPassword), 'SELECT CURRENT_USER()');
    expect(viaPassword.code, viaPassword.stderr).toBe(0);
    expect(viaPassword.stdout.trim()).toBe(`${other}@%`);
    expect((await runMariadb(args(alice, alicePassword), 'SELECT 1')).code).not.toBe(0);
    expectLogins(p.name);
  });
});
