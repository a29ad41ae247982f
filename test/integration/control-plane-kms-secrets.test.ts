/**
 * KMS and Secrets Manager through the control plane, driven by the Debian
 * AWS CLI and the SDK v3 clients: keys, aliases, key policies and states,
 * Encrypt/Decrypt with encryption contexts, data keys; secrets with version
 * stages, deletion and restore, resource policies, and the KMS permission a
 * read needs (kms:ViaService), with values encrypted at rest.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function aws(args: string[], key: Key = iamdb.admin): Promise<{ code: number | null; json: any; stderr: string }> {
  const out = await runAwsCli([...args, '--endpoint-url', iamdb.apiUrl, '--region', REGION, '--output', 'json'], { AWS_ACCESS_KEY_ID: key.id, AWS_SECRET_ACCESS_KEY: key.secret, AWS_MAX_ATTEMPTS: '1' });
  return { code: out.code, json: out.stdout.trim() ? JSON.parse(out.stdout) : undefined, stderr: out.stderr };
}
async function ok(args: string[], key?: Key): Promise<any> {
  const r = await aws(args, key);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.json;
}
const sdk = <T>(Client: new (c: object) => T, key: Key = iamdb.admin): T =>
  new Client({ endpoint: iamdb.apiUrl, region: REGION, credentials: { accessKeyId: key.id, secretAccessKey: key.secret }, maxAttempts: 1 });

// Each test runs the AWS CLI (Python) 10-20 times: 1-3 s a call on a loaded 2-core machine.
describe('KMS through the control plane', { timeout: 180_000 }, () => {
  let keyId: string;

  it('creates a key and an alias, and describes and lists them', async () => {
    const meta = (await ok(['kms', 'create-key', '--description', 'app key', '--tags', 'TagKey=team,TagValue=db'])).KeyMetadata;
    expect(meta).toMatchObject({ AWSAccountId: ACCOUNT, Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', Description: 'app key', KeyManager: 'CUSTOMER' });
    expect(meta.Arn).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${meta.KeyId}`);
    keyId = meta.KeyId;
    await ok(['kms', 'create-alias', '--alias-name', 'alias/app', '--target-key-id', keyId]);
    expect((await aws(['kms', 'create-alias', '--alias-name', 'alias/app', '--target-key-id', keyId])).stderr).toContain('(AlreadyExistsException)');
    expect((await ok(['kms', 'describe-key', '--key-id', 'alias/app'])).KeyMetadata.KeyId).toBe(keyId);
    expect((await ok(['kms', 'list-aliases', '--key-id', keyId])).Aliases).toEqual([expect.objectContaining({ AliasName: 'alias/app', TargetKeyId: keyId, AliasArn: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/app` })]);
    expect((await ok(['kms', 'list-keys'])).Keys.map((k: { KeyId: string }) => k.KeyId)).toContain(keyId);
    expect((await ok(['kms', 'list-resource-tags', '--key-id', keyId])).Tags).toEqual([{ TagKey: 'team', TagValue: 'db' }]);
    expect((await aws(['kms', 'describe-key', '--key-id', 'alias/nope'])).stderr).toContain('(NotFoundException)');
  });

  it('encrypts and decrypts under an encryption context, and refuses another context', async () => {
    const enc = await ok(['kms', 'encrypt', '--key-id', 'alias/app', '--plaintext', Buffer.from('hello kms').toString('base64'), '--encryption-context', 'purpose=test']);
    expect(enc.KeyId).toBe(`arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    const dec = await ok(['kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=test']);
    expect(Buffer.from(dec.Plaintext, 'base64').toString()).toBe('hello kms');
    expect(dec.KeyId).toBe(enc.KeyId);
    expect((await aws(['kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob, '--encryption-context', 'purpose=other'])).stderr).toContain('(InvalidCiphertextException)');
    const tampered = Buffer.from(enc.CiphertextBlob, 'base64');
    tampered[tampered.length - 1]! ^= 1;
    expect((await aws(['kms', 'decrypt', '--ciphertext-blob', tampered.toString('base64'), '--encryption-context', 'purpose=test'])).stderr).toContain('(InvalidCiphertextException)');
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
    const enc = await ok(['kms', 'encrypt', '--key-id', keyId, '--plaintext', Buffer.from('x').toString('base64')]);
    const denied = await aws(['kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob], bob);
    expect(denied.stderr).toContain('(AccessDeniedException)');
    expect(denied.stderr).toContain(`User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:${REGION}:${ACCOUNT}:key/${keyId}`);
    // A policy naming bob lets him in without any IAM policy, and drops the account delegation, so the admin is out.
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: ['kms:Decrypt', 'kms:PutKeyPolicy', 'kms:GetKeyPolicy'], Resource: '*' }] });
    // The lockout safety check refuses a policy that shuts the caller (the admin) out, unless told to bypass it.
    const locked = await aws(['kms', 'put-key-policy', '--key-id', keyId, '--policy-name', 'default', '--policy', policy]);
    expect(locked.stderr).toContain('(MalformedPolicyDocumentException)');
    expect(locked.stderr).toContain('The new key policy will not allow you to update the key policy in the future.');
    await ok(['kms', 'put-key-policy', '--key-id', keyId, '--policy-name', 'default', '--policy', policy, '--bypass-policy-lockout-safety-check']);
    expect(Buffer.from((await ok(['kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob], bob)).Plaintext, 'base64').toString()).toBe('x');
    expect((await aws(['kms', 'decrypt', '--ciphertext-blob', enc.CiphertextBlob])).stderr).toContain('(AccessDeniedException)');
    expect(JSON.parse((await ok(['kms', 'get-key-policy', '--key-id', keyId, '--policy-name', 'default'], bob)).Policy)).toEqual(JSON.parse(policy));
    const restore = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] });
    await ok(['kms', 'put-key-policy', '--key-id', keyId, '--policy-name', 'default', '--policy', restore, '--bypass-policy-lockout-safety-check'], bob);
    expect((await aws(['kms', 'put-key-policy', '--key-id', keyId, '--policy-name', 'default', '--policy', '{"Statement":[{"Effect":"Allow"}]}'])).stderr).toContain('(MalformedPolicyDocumentException)');
  });

  it('refuses a disabled key and a key pending deletion, and brings them back', async () => {
    const plain = Buffer.from('y').toString('base64');
    await ok(['kms', 'disable-key', '--key-id', keyId]);
    expect((await aws(['kms', 'encrypt', '--key-id', keyId, '--plaintext', plain])).stderr).toContain('(DisabledException)');
    await ok(['kms', 'enable-key', '--key-id', keyId]);
    const sched = await ok(['kms', 'schedule-key-deletion', '--key-id', keyId, '--pending-window-in-days', '7']);
    expect(sched.KeyState).toBe('PendingDeletion');
    expect((await aws(['kms', 'encrypt', '--key-id', keyId, '--plaintext', plain])).stderr).toContain('(KMSInvalidStateException)');
    await ok(['kms', 'cancel-key-deletion', '--key-id', keyId]);
    expect((await ok(['kms', 'describe-key', '--key-id', keyId])).KeyMetadata.KeyState).toBe('Disabled');
    await ok(['kms', 'enable-key', '--key-id', keyId]);
    await ok(['kms', 'encrypt', '--key-id', keyId, '--plaintext', plain]);
  });
});

// Each test runs the AWS CLI (Python) 10-20 times: 1-3 s a call on a loaded 2-core machine.
describe('Secrets Manager through the control plane', { timeout: 180_000 }, () => {
  let arn: string;

  it('runs the seed command unchanged and reads the value back', async () => {
    const created = await ok(['secretsmanager', 'create-secret', '--name', 'rdsproxy_alice', '--description', 'database user alice', '--secret-string', '{"username":"alice","password":"password_for_alice"}']);
    expect(created.ARN).toMatch(new RegExp(`^arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rdsproxy_alice-[A-Za-z0-9]{6}$`));
    expect(created.Name).toBe('rdsproxy_alice');
    arn = created.ARN;
    const got = await ok(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice']);
    expect(JSON.parse(got.SecretString)).toEqual({ username: 'alice', password: 'password_for_alice' });
    expect(got).toMatchObject({ ARN: arn, VersionId: created.VersionId, VersionStages: ['AWSCURRENT'] });
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', arn])).VersionId).toBe(created.VersionId);
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', arn.slice(0, -7)])).VersionId).toBe(created.VersionId);
    const dup = await aws(['secretsmanager', 'create-secret', '--name', 'rdsproxy_alice', '--secret-string', 'x']);
    expect(dup.stderr).toContain('(ResourceExistsException)');
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
    const described = await ok(['secretsmanager', 'describe-secret', '--secret-id', 'rdsproxy_alice']);
    expect(Object.values(described.VersionIdsToStages).flat().sort()).toEqual(['AWSCURRENT', 'AWSPENDING', 'AWSPREVIOUS']);
    expect(described.Description).toBe('database user alice');
    await ok(['secretsmanager', 'update-secret', '--secret-id', 'rdsproxy_alice', '--description', 'alice, rotated']);
    const listed = await ok(['secretsmanager', 'list-secrets', '--filters', 'Key=name,Values=rdsproxy_']);
    expect(listed.SecretList.map((s: { Name: string; Description: string }) => [s.Name, s.Description])).toEqual([['rdsproxy_alice', 'alice, rotated']]);
  });

  it('needs kms:Decrypt through Secrets Manager for a secret under a customer key', async () => {
    const key = (await ok(['kms', 'create-key'])).KeyMetadata;
    await ok(['secretsmanager', 'create-secret', '--name', 'cmk-secret', '--kms-key-id', key.Arn, '--secret-string', 'under-cmk']);
    // Readable with the default key's policy…
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice'], bob)).SecretString).toContain('second');
    // …but not under a customer key without kms:Decrypt.
    const denied = await aws(['secretsmanager', 'get-secret-value', '--secret-id', 'cmk-secret'], bob);
    expect(denied.stderr).toContain('(AccessDeniedException)');
    expect(denied.stderr).toContain(`is not authorized to perform: kms:Decrypt on resource: ${key.Arn}`);
    const via = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'kms:Decrypt', Resource: key.Arn, Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } } }] });
    await ok(['iam', 'put-user-policy', '--user-name', 'bob', '--policy-name', 'decrypt-via-sm', '--policy-document', via]);
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', 'cmk-secret'], bob)).SecretString).toBe('under-cmk');
    // The same permission does not let him call KMS directly.
    const blob = (await ok(['kms', 'encrypt', '--key-id', key.KeyId, '--plaintext', Buffer.from('z').toString('base64')])).CiphertextBlob;
    expect((await aws(['kms', 'decrypt', '--ciphertext-blob', blob], bob)).stderr).toContain('(AccessDeniedException)');
  });

  it('lets a resource policy grant a caller with no identity policy', async () => {
    expect((await aws(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice'], carol)).stderr).toContain('(AccessDeniedException)');
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/carol` }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }] });
    await ok(['secretsmanager', 'put-resource-policy', '--secret-id', 'rdsproxy_alice', '--resource-policy', policy]);
    expect(JSON.parse((await ok(['secretsmanager', 'get-resource-policy', '--secret-id', 'rdsproxy_alice'])).ResourcePolicy)).toEqual(JSON.parse(policy));
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice'], carol)).SecretString).toContain('second');
    await ok(['secretsmanager', 'delete-resource-policy', '--secret-id', 'rdsproxy_alice']);
    expect((await aws(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice'], carol)).stderr).toContain('(AccessDeniedException)');
  });

  it('deletes with a recovery window, restores, and deletes for good', async () => {
    const del = await ok(['secretsmanager', 'delete-secret', '--secret-id', 'rdsproxy_alice', '--recovery-window-in-days', '7']);
    expect(Date.parse(del.DeletionDate) - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    const marked = await aws(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice']);
    expect(marked.stderr).toContain('(InvalidRequestException)');
    expect(marked.stderr).toContain(": You can't perform this operation on the secret because it was marked for deletion.");
    expect((await ok(['secretsmanager', 'describe-secret', '--secret-id', 'rdsproxy_alice'])).DeletedDate).toBeDefined();
    expect((await ok(['secretsmanager', 'list-secrets'])).SecretList.map((s: { Name: string }) => s.Name)).not.toContain('rdsproxy_alice');
    await ok(['secretsmanager', 'restore-secret', '--secret-id', 'rdsproxy_alice']);
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice'])).SecretString).toContain('second');
    await ok(['secretsmanager', 'delete-secret', '--secret-id', 'rdsproxy_alice', '--force-delete-without-recovery']);
    expect((await aws(['secretsmanager', 'describe-secret', '--secret-id', 'rdsproxy_alice'])).stderr).toContain('(ResourceNotFoundException)');
    await ok(['secretsmanager', 'create-secret', '--name', 'rdsproxy_alice', '--secret-string', 'again']);
  });

  it('changes nothing when UpdateSecret names a key the caller may not use', async () => {
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: 'kms:*', Resource: '*' }] });
    const bobsKey = (await ok(['kms', 'create-key', '--policy', policy, '--bypass-policy-lockout-safety-check'])).KeyMetadata;
    const before = await ok(['secretsmanager', 'describe-secret', '--secret-id', 'rdsproxy_alice']);
    for (const extra of [['--secret-string', 'new-value'], ['--description', 'changed']]) {
      const r = await aws(['secretsmanager', 'update-secret', '--secret-id', 'rdsproxy_alice', '--kms-key-id', bobsKey.Arn, ...extra]);
      expect(r.stderr).toContain('(AccessDeniedException)');
    }
    const after = await ok(['secretsmanager', 'describe-secret', '--secret-id', 'rdsproxy_alice']);
    expect(after.KmsKeyId).toBe(before.KmsKeyId);
    expect(after.Description).toBe(before.Description);
    expect(after.VersionIdsToStages).toEqual(before.VersionIdsToStages);
    expect((await ok(['secretsmanager', 'get-secret-value', '--secret-id', 'rdsproxy_alice'])).SecretString).toBe('again');
  });

  it('keeps the reserved aws/ aliases out of reach', async () => {
    const key = (await ok(['kms', 'create-key'])).KeyMetadata;
    expect((await aws(['kms', 'update-alias', '--alias-name', 'alias/aws/secretsmanager', '--target-key-id', key.KeyId])).stderr).toContain('(ValidationException)');
    expect((await aws(['kms', 'delete-alias', '--alias-name', 'alias/aws/secretsmanager'])).stderr).toContain('(ValidationException)');
    expect((await aws(['kms', 'create-alias', '--alias-name', 'alias/aws/mine', '--target-key-id', key.KeyId])).stderr).toContain('(ValidationException)');
  });

  it('keeps values encrypted at rest and out of the audit log', () => {
    const stateDir = join(iamdb.stateDir, 'state');
    for (const f of readdirSync(stateDir).filter((n) => n.startsWith('state.db'))) {
      const bytes = readFileSync(join(stateDir, f));
      expect(bytes.includes('password_for_alice'), f).toBe(false);
      expect(bytes.includes('under-cmk'), f).toBe(false);
    }
    const audit = JSON.stringify(iamdb.audit.events);
    expect(audit).not.toContain('password_for_alice');
    expect(audit).not.toContain('under-cmk');
  });
});
