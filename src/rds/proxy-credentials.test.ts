/**
 * RDS Proxy's credential cache over real parts (SQLite store, IAM runtime,
 * keyring, secret registry): an outcome is reused only while nothing it was
 * built from has changed on this node and for at most a second; a policy,
 * trust or secret change is seen by the very next call.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/index.js';
import { createSealer } from '../crypto/index.js';
import { IamRuntime } from '../iam-runtime.js';
import { Keyring } from '../kms/index.js';
import { SecretRegistry, type DataKeys } from '../secrets/index.js';
import { openSqliteStore, type StateStore } from '../store/index.js';
import { SessionCredentialIssuer } from '../sts/index.js';
import { Secret } from '../util/index.js';
import { ProxyCredentials, type ProxyAuthInput, type ProxyCredentialOutcome } from './proxy-credentials.js';
import { keyringDataKeys } from '../../test/support/data-keys.js';

const ACCOUNT = '123456789012';
const where = { partition: 'aws', region: 'us-east-1', account: ACCOUNT };
const clock = { t: Date.parse('2026-12-05T12:00:00Z'), now(): number { return this.t; } };
const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
const readSecrets = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] });

let dir: string;
let store: StateStore;
let iam: IamRuntime;
let keyring: Keyring;
let secrets: SecretRegistry;
let keyId: string;
let secretArn: string;
let proxy: ProxyAuthInput;

const dataKeys = (): DataKeys => keyringDataKeys(keyring);

async function putPassword(password: string): Promise<void> {
  await secrets.putValue(secretArn, { value: Buffer.from(JSON.stringify({ username: 'app', password })), kind: 'string' }, dataKeys(), keyId);
}

function passwordOf(o: ProxyCredentialOutcome): string {
  if (!o.ok) throw new Error(`refused: ${o.reason}`);
  return o.password.reveal();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iamdb-proxy-creds-'));
  store = await openSqliteStore(join(dir, 'state.db'));
  const sealer = createSealer(new Secret(randomBytes(32)));
  iam = await IamRuntime.open({ config: loadConfig({ text: `account: "${ACCOUNT}"` }), store, sealer, sessions: new SessionCredentialIssuer(sealer.deriveKey('sts/session-token'), clock), clock });
  keyring = new Keyring(store, sealer, clock, where);
  keyId = (await keyring.createKey({})).keyId;
  secrets = new SecretRegistry(store, sealer.deriveKey('secrets/value-digest'), clock, where);
  secretArn = (await secrets.create({ name: 'app', arn: await secrets.newArn('app') })).arn;
  await putPassword('first');
  const role = iam.directory.createRole({ roleName: 'proxy-role', assumeRolePolicyDocument: trust });
  iam.directory.putRolePolicy('proxy-role', 'read', readSecrets);
  proxy = { proxyName: 'p1', proxyArn: `arn:aws:rds:us-east-1:${ACCOUNT}:db-proxy:prx-0123456789abcdef0`, roleArn: role.arn, auth: [{ secretArn, iamAuth: 'DISABLED' }], ...where };
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ProxyCredentials cache', () => {
  it('reuses an outcome while the stamp holds, for less than a second', async () => {
    let stamp = 'a';
    const creds = new ProxyCredentials({ iam, keyring, secrets, clock, freshness: () => stamp });
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('first');
    await putPassword('second');
    // The stamp did not move (as if the write happened where no counter sees it): the cached value stands...
    clock.t += 999;
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('first');
    // ...until it is a second old,
    clock.t += 1;
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('second');
    // or the stamp moves.
    await putPassword('third');
    stamp = 'b';
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('third');
  });

  it('sees a rotation, a policy removed and a trust changed at the next call with the app\'s stamp', async () => {
    const creds = new ProxyCredentials({ iam, keyring, secrets, clock, freshness: () => `${store.writes}/${iam.directory.changes}` });
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('first');
    await putPassword('rotated');
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('rotated');

    iam.directory.deleteRolePolicy('proxy-role', 'read');
    expect(await creds.forUser(proxy, 'app')).toMatchObject({ ok: false, reason: 'SecretAccessDenied' });
    iam.directory.putRolePolicy('proxy-role', 'read', readSecrets);
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('rotated');

    iam.directory.updateAssumeRolePolicy('proxy-role', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] }));
    expect(await creds.forUser(proxy, 'app')).toMatchObject({ ok: false, reason: 'RoleNotTrustedByRds' });
  });

  it('keeps proxies apart: another proxy with another role gets its own outcome', async () => {
    const creds = new ProxyCredentials({ iam, keyring, secrets, clock, freshness: () => 'fixed' });
    expect(passwordOf((await creds.forUser(proxy, 'app'))!)).toBe('first');
    iam.directory.createRole({ roleName: 'no-read', assumeRolePolicyDocument: trust });
    const other = { ...proxy, proxyName: 'p2', roleArn: proxy.roleArn.replace('proxy-role', 'no-read') };
    expect(await creds.forUser(other, 'app')).toMatchObject({ ok: false, reason: 'SecretAccessDenied' });
  });
});
