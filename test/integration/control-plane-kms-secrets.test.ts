/**
 * KMS and Secrets Manager through the control plane, driven by the SDK v3
 * clients: keys, aliases, key policies and states, Encrypt/Decrypt with
 * encryption contexts, data keys; secrets with version stages, deletion and
 * restore, resource policies, and the KMS permission a read needs
 * (kms:ViaService), with values encrypted at rest. The Debian AWS CLI
 * encrypts and decrypts (base64 blobs, shorthand encryption context) and runs
 * the Secrets Manager seed command unchanged.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as KMS from '@aws-sdk/client-kms';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import * as SM from '@aws-sdk/client-secrets-manager';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import * as IAM from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, sdkClient } from '../support/aws-sdk.js';
import { runAwsCli } from '../support/clients.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
const bob = newAccessKey();
const carol = newAccessKey();
type Key = { id: string; secret: string };

beforeAll(async () => {
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        { name: 'bob', accessKeys: [bob], policies: [{ name: 'read-secrets', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: '*' }] } }] },
        { name: 'carol', accessKeys: [carol] },
      ],
    },
  });
});
afterAll(() => iamdb.stop());

/** The AWS CLI, for the calls where the CLI itself is the point. */
async function aws(args: string[], key: Key = iamdb.admin): Promise<{ code: number | null; json: any; stderr: string }> {
  const out = await runAwsCli([...args, '--endpoint-url', iamdb.apiUrl, '--region', REGION, '--output', 'json'], { AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret, AWS_MAX_ATTEMPTS: '1' });
  return { code: out.code, json: out.stdout.trim() ? JSON.parse(out.stdout) : undefined, stderr: out.stderr };
}
async function cliOk(args: string[], key?: Key): Promise<any> {
  const r = await aws(args, key);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.json;
}
const sdk = <T>(Client: new (c: object) => T, key: Key = iamdb.admin): T => sdkClient(Client, iamdb.apiUrl, key);

const SERVICES = { kms: [KMS, KMS.KMSClient], secretsmanager: [SM, SM.SecretsManagerClient], iam: [IAM, IAM.IAMClient] } as const;
/** `operation` (CreateKey, …) of `service` through its SDK client as `key`. */
function send(service: keyof typeof SERVICES, operation: string, input: object, key: Key): Promise<any> {
  const [module, Client] = SERVICES[service];
  const Command = (module as unknown as Record<string, new (input: object) => object>)[`${operation}Command`];
  if (Command === undefined) throw new Error(`no ${service} operation ${operation}`);
  return (sdk(Client as new (c: object) => { send(c: object): Promise<unknown> }, key)).send(new Command(input));
}
const ok = (service: keyof typeof SERVICES, operation: string, input: object = {}, key: Key = iamdb.admin): Promise<any> => send(service, operation, input, key);
/** `(Code): message` of a call that must fail. */
const fails = (service: keyof typeof SERVICES, operation: string, input: object = {}, key: Key = iamdb.admin): Promise<string> => failure(send(service, operation, input, key));
const bytes = (text: string): Uint8Array => Buffer.from(text);

describe('KMS through the control plane', () => {
  let keyId: string;

  it('creates a key and an alias, and describes and lists them', async () => {
    const meta = (await ok('kms', 'CreateKey', { Description: 'app key', Tags: [{ TagKey: 'team', TagValue: 'db' }] })).KeyMetadata;
    expect(meta).toMatchObject({ AWSAccountId: ACCOUNT, Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Description: 'app key', KeyManager: 'CUSTOMER' });
    expect(meta.Arn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${meta.KeyId}`);
    keyId = meta.KeyId;
    await ok('kms', 'CreateAlias', { AliasName: 'alias/app', TargetKeyId: keyId });
    expect(await fails('kms', 'CreateAlias', { AliasName: 'alias/app', TargetKeyId: keyId })).toContain('(AlreadyExistsException)');
    expect((await ok('kms', 'DescribeKey', { KeyId: 'alias/app' })).KeyMetadata.KeyId).toBe(keyId);
    expect((await ok('kms', 'ListAliases', { KeyId: keyId })).Aliases).toEqual([expect.objectContaining({ AliasName: 'alias/app', TargetKeyId: keyId, AliasArn: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app` })]);
    expect((await ok('kms', 'ListKeys')).Keys.map((k: { KeyId: string }) => k.KeyId)).toContain(keyId);
    expect((await ok('kms', 'ListResourceTags', { KeyId: keyId })).Tags).toEqual([{ TagKey: 'team', TagValue: 'db' }]);
    expect(await fails('kms', 'DescribeKey', { KeyId: 'alias/nope' })).toContain('(NotFoundException)');
  });

  it('encrypts and decrypts under an encryption context, and refuses another context', async () => {
    // The CLI: base64 blobs both ways, the encryption context in shorthand.
    const enc = await cliOk(['kms', 'encrypt', '--key-id', 'alias/app', '--plaintext', Buffer.from('hello kms').toString('base64'), '--encryption-context', 'purpose=test']);
    expect(enc.KeyId).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    const dec = await cliOk(['kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=test']);
    expect(Buffer.from(dec.Plaintext, 'base64').toString()).toBe('hello kms');
    expect(dec.KeyId).toBe(enc.KeyId);
    const blob = Buffer.from(enc.CiphertextBlob, 'base64');
    expect(await fails('kms', 'Decrypt', { CiphertextBlob: blob, EncryptionContext: { purpose: 'other' } })).toContain('(InvalidCiphertextException)');
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1]! ^= 1;
    expect(await fails('kms', 'Decrypt', { CiphertextBlob: tampered, EncryptionContext: { purpose: 'test' } })).toContain('(InvalidCiphertextException)');
  });

  it('makes data keys (SDK) that decrypt to the same plaintext', async () => {
    const kms = sdk(KMSClient);
    const dk = await kms.send(new GenerateDataKeyCommand({ KeyId: 'alias/app', KeySpec: 'AES_256', EncryptionContext: { k: 'v' } }));
    expect(dk.Plaintext).toHaveLength(32);
    const back = await kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { k: 'v' } }));
    expect(Buffer.from(back.Plaintext!)).toEqual(Buffer.from(dk.Plaintext!));
    await expect(kms.send(new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
  });

  it('follows key policies: the key policy must allow, naming the caller or delegating to IAM', async () => {
    const enc = await ok('kms', 'Encrypt', { KeyId: keyId, Plaintext: bytes('x') });
    const denied = await fails('kms', 'Decrypt', { CiphertextBlob: enc.CiphertextBlob }, bob);
    expect(denied).toContain('(AccessDeniedException)');
    expect(denied).toContain(`User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    // A policy naming bob lets him in without any IAM policy, and drops the account delegation, so the admin is out.
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: ['kms:Decrypt', 'kms:PutKeyPolicy', 'kms:GetKeyPolicy'], Resource: '*' }] });
    // The lockout safety check refuses a policy that shuts the caller (the admin) out, unless told to bypass it.
    const locked = await fails('kms', 'PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: policy });
    expect(locked).toContain('(MalformedPolicyDocumentException)');
    expect(locked).toContain('The new key policy will not allow you to update the key policy in the future.');
    await ok('kms', 'PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: policy, BypassPolicyLockoutSafetyCheck: true });
    expect(Buffer.from((await ok('kms', 'Decrypt', { CiphertextBlob: enc.CiphertextBlob }, bob)).Plaintext).toString()).toBe('x');
    expect(await fails('kms', 'Decrypt', { CiphertextBlob: enc.CiphertextBlob })).toContain('(AccessDeniedException)');
    expect(JSON.parse((await ok('kms', 'GetKeyPolicy', { KeyId: keyId, PolicyName: 'default' }, bob)).Policy)).toEqual(JSON.parse(policy));
    const restore = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] });
    await ok('kms', 'PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: restore, BypassPolicyLockoutSafetyCheck: true }, bob);
    expect(await fails('kms', 'PutKeyPolicy', { KeyId: keyId, PolicyName: 'default', Policy: '{"Statement":[{"Effect":"Allow"}]}' })).toContain('(MalformedPolicyDocumentException)');
  });

  it('refuses a disabled key and a key pending deletion, and brings them back', async () => {
    const plain = bytes('y');
    await ok('kms', 'DisableKey', { KeyId: keyId });
    expect(await fails('kms', 'Encrypt', { KeyId: keyId, Plaintext: plain })).toContain('(DisabledException)');
    await ok('kms', 'EnableKey', { KeyId: keyId });
    const sched = await ok('kms', 'ScheduleKeyDeletion', { KeyId: keyId, PendingWindowInDays: 7 });
    expect(sched.KeyState).toBe('PendingDeletion');
    expect(await fails('kms', 'Encrypt', { KeyId: keyId, Plaintext: plain })).toContain('(KMSInvalidStateException)');
    await ok('kms', 'CancelKeyDeletion', { KeyId: keyId });
    expect((await ok('kms', 'DescribeKey', { KeyId: keyId })).KeyMetadata.KeyState).toBe('Disabled');
    await ok('kms', 'EnableKey', { KeyId: keyId });
    await ok('kms', 'Encrypt', { KeyId: keyId, Plaintext: plain });
  });
});

describe('Secrets Manager through the control plane', () => {
  let arn: string;

  it('runs the seed command unchanged and reads the value back', async () => {
    // The CLI, as the RDS Proxy guide writes the command.
    const created = await cliOk(['secretsmanager', 'create-secret', '--name', 'rdsproxy_alice', '--description', 'database user alice', '--secret-string', '{"username":"alice","password":"password_for_alice"}']);
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rdsproxy_alice-[A-Za-z0-9]{6}$`));
    expect(created.Name).toBe('rdsproxy_alice');
    arn = created.ARN;
    const got = await cliOk(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice']);
    expect(JSON.parse(got.SecretString)).toEqual({ username: 'alice', password: 'password_for_alice' });
    expect(got).toMatchObject({ ARN: arn, VersionId: created.VersionId, VersionStages: ['AWSCURRENT'] });
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: arn })).VersionId).toBe(created.VersionId);
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: arn.slice(0, -7) })).VersionId).toBe(created.VersionId);
    const dup = await fails('secretsmanager', 'CreateSecret', { Name: 'rdsproxy_alice', SecretString: 'x' });
    expect(dup).toContain('(ResourceExistsException)');
    const missing = (await aws(['secretsmanager', 'get-secret-value', '--secret-id', 'nope'])).stderr;
    expect(missing).toContain('(ResourceNotFoundException)');
    expect(missing).toContain(": Secrets Manager can't find the specified secret.");
  });

  it('moves AWSCURRENT, AWSPREVIOUS and AWSPENDING as AWS does', async () => {
    const sm = sdk(SecretsManagerClient);
    const v2 = await sm.send(new PutSecretValueCommand({ SecretId: 'rdsproxy_alice', SecretString: '{"username":"alice","password":"second"}' }));
    expect(v2.VersionStages).toEqual(['AWSCURRENT']);
    const current = await sm.send(new GetSecretValueCommand({ SecretId: 'rdsproxy_alice' }));
    expect(JSON.parse(current.SecretString!).password).toBe('second');
    const previous = await sm.send(new GetSecretValueCommand({ SecretId: 'rdsproxy_alice', VersionStage: 'AWSPREVIOUS' }));
    expect(JSON.parse(previous.SecretString!).password).toBe('password_for_alice');
    const pendingToken = 'pending-version-0000000000000000000001';
    await sm.send(new PutSecretValueCommand({ SecretId: 'rdsproxy_alice', SecretString: '{"password":"third"}', VersionStages: ['AWSPENDING'], ClientRequestToken: pendingToken }));
    // The same token and value again is a no-op; another value under it is refused.
    await sm.send(new PutSecretValueCommand({ SecretId: 'rdsproxy_alice', SecretString: '{"password":"third"}', VersionStages: ['AWSPENDING'], ClientRequestToken: pendingToken }));
    await expect(sm.send(new PutSecretValueCommand({ SecretId: 'rdsproxy_alice', SecretString: 'other', ClientRequestToken: pendingToken }))).rejects.toMatchObject({ name: 'ResourceExistsException' });
    expect(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'rdsproxy_alice', VersionStage: 'AWSPENDING' }))).SecretString!).password).toBe('third');
    expect(JSON.parse((await sm.send(new GetSecretValueCommand({ SecretId: 'rdsproxy_alice' }))).SecretString!).password).toBe('second');
    const described = await ok('secretsmanager', 'DescribeSecret', { SecretId: 'rdsproxy_alice' });
    expect(Object.values(described.VersionIdsToStages).flat().sort()).toEqual(['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']);
    expect(described.Description).toBe('database user alice');
    await ok('secretsmanager', 'UpdateSecret', { SecretId: 'rdsproxy_alice', Description: 'alice, rotated' });
    const listed = await ok('secretsmanager', 'ListSecrets', { Filters: [{ Key: 'name', Values: ['rdsproxy_'] }] });
    expect(listed.SecretList.map((s: { Name: string; Description: string }) => [s.Name, s.Description])).toEqual([['rdsproxy_alice', 'alice, rotated']]);
  });

  it('needs kms:Decrypt through Secrets Manager for a secret under a customer key', async () => {
    const key = (await ok('kms', 'CreateKey')).KeyMetadata;
    await ok('secretsmanager', 'CreateSecret', { Name: 'cmk-secret', KmsKeyId: key.Arn, SecretString: 'under-cmk' });
    // Readable with the default key's policy…
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' }, bob)).SecretString).toContain('second');
    // …but not under a customer key without kms:Decrypt.
    const denied = await fails('secretsmanager', 'GetSecretValue', { SecretId: 'cmk-secret' }, bob);
    expect(denied).toContain('(AccessDeniedException)');
    expect(denied).toContain(`is not authorized to perform: kms:Decrypt on resource: ${key.Arn}`);
    const via = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: key.Arn, Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } } }] });
    await ok('iam', 'PutUserPolicy', { UserName: 'bob', PolicyName: 'decrypt-via-sm', PolicyDocument: via });
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: 'cmk-secret' }, bob)).SecretString).toBe('under-cmk');
    // The same permission does not let him call KMS directly.
    const blob = (await ok('kms', 'Encrypt', { KeyId: key.KeyId, Plaintext: bytes('z') })).CiphertextBlob;
    expect(await fails('kms', 'Decrypt', { CiphertextBlob: blob }, bob)).toContain('(AccessDeniedException)');
  });

  it('lets a resource policy grant a caller with no identity policy', async () => {
    expect(await fails('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' }, carol)).toContain('(AccessDeniedException)');
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/carol` }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });
    await ok('secretsmanager', 'PutResourcePolicy', { SecretId: 'rdsproxy_alice', ResourcePolicy: policy });
    expect(JSON.parse((await ok('secretsmanager', 'GetResourcePolicy', { SecretId: 'rdsproxy_alice' })).ResourcePolicy)).toEqual(JSON.parse(policy));
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' }, carol)).SecretString).toContain('second');
    await ok('secretsmanager', 'DeleteResourcePolicy', { SecretId: 'rdsproxy_alice' });
    expect(await fails('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' }, carol)).toContain('(AccessDeniedException)');
  });

  it('deletes with a recovery window, restores, and deletes for good', async () => {
    const del = await ok('secretsmanager', 'DeleteSecret', { SecretId: 'rdsproxy_alice', RecoveryWindowInDays: 7 });
    expect(del.DeletionDate.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const marked = await fails('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' });
    expect(marked).toContain('(InvalidRequestException)');
    expect(marked).toContain(": You can't perform this operation on the secret because it was marked for deletion.");
    expect((await ok('secretsmanager', 'DescribeSecret', { SecretId: 'rdsproxy_alice' })).DeletedDate).toBeDefined();
    expect((await ok('secretsmanager', 'ListSecrets')).SecretList.map((s: { Name: string }) => s.Name)).not.toContain('rdsproxy_alice');
    await ok('secretsmanager', 'RestoreSecret', { SecretId: 'rdsproxy_alice' });
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' })).SecretString).toContain('second');
    await ok('secretsmanager', 'DeleteSecret', { SecretId: 'rdsproxy_alice', ForceDeleteWithoutRecovery: true });
    expect(await fails('secretsmanager', 'DescribeSecret', { SecretId: 'rdsproxy_alice' })).toContain('(ResourceNotFoundException)');
    await ok('secretsmanager', 'CreateSecret', { Name: 'rdsproxy_alice', SecretString: 'again' });
  });

  it('changes nothing when UpdateSecret names a key the caller may not use', async () => {
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: 'kms:*', Resource: '*' }] });
    const bobsKey = (await ok('kms', 'CreateKey', { Policy: policy, BypassPolicyLockoutSafetyCheck: true })).KeyMetadata;
    const before = await ok('secretsmanager', 'DescribeSecret', { SecretId: 'rdsproxy_alice' });
    for (const extra of [{ SecretString: 'new-value' }, { Description: 'changed' }]) {
      const r = await fails('secretsmanager', 'UpdateSecret', { SecretId: 'rdsproxy_alice', KmsKeyId: bobsKey.Arn, ...extra });
      expect(r).toContain('(AccessDeniedException)');
    }
    const after = await ok('secretsmanager', 'DescribeSecret', { SecretId: 'rdsproxy_alice' });
    expect(after.KmsKeyId).toBe(before.KmsKeyId);
    expect(after.Description).toBe(before.Description);
    expect(after.VersionIdsToStages).toEqual(before.VersionIdsToStages);
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: 'rdsproxy_alice' })).SecretString).toBe('again');
  });

  it('keeps the reserved aws/ aliases out of reach', async () => {
    const key = (await ok('kms', 'CreateKey')).KeyMetadata;
    expect(await fails('kms', 'UpdateAlias', { AliasName: 'alias/aws/secretsmanager', TargetKeyId: key.KeyId })).toContain('(ValidationException)');
    expect(await fails('kms', 'DeleteAlias', { AliasName: 'alias/aws/secretsmanager' })).toContain('(ValidationException)');
    expect(await fails('kms', 'CreateAlias', { AliasName: 'alias/aws/mine', TargetKeyId: key.KeyId })).toContain('(ValidationException)');
  });

  it('keeps values encrypted at rest and out of the audit log', async () => {
    // Its own secret, written and read, so the check never looks at an empty state or log.
    const value = `at-rest-${Date.now().toString(36)}-value`;
    const before = iamdb.audit.events.length;
    await ok('secretsmanager', 'CreateSecret', { Name: 'at-rest', SecretString: value });
    expect((await ok('secretsmanager', 'GetSecretValue', { SecretId: 'at-rest' })).SecretString).toBe(value);
    expect(iamdb.apiEvents().slice(-2).map((e) => [e.action, e.decision])).toEqual([['CreateSecret', 'allow'], ['GetSecretValue', 'allow']]);
    expect(iamdb.audit.events.length).toBeGreaterThan(before);
    await iamdb.app.iam.flush();
    const stateDir = join(iamdb.stateDir, 'state');
    const files = readdirSync(stateDir).filter((n) => n.startsWith('state.db'));
    expect(files).toContain('state.db');
    for (const f of files) {
      const bytes = readFileSync(join(stateDir, f));
      for (const v of [value, 'password_for_alice', 'under-cmk']) expect(bytes.includes(v), f).toBe(false);
    }
    const audit = JSON.stringify(iamdb.audit.events);
    for (const v of [value, 'password_for_alice', 'under-cmk']) expect(audit).not.toContain(v);
  });
});
