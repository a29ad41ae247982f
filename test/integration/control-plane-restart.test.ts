/**
 * What the control plane creates survives a restart: IAM entities, keys and
 * policies; KMS keys and aliases (old ciphertexts still open); secrets and
 * their stages; an instance's IAM switch and tags. The config file's IAM
 * section is applied again as a bootstrap and removes nothing the API added.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateAccessKeyCommand, CreateUserCommand, GetUserPolicyCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { CreateAliasCommand, CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { DescribeDBInstancesCommand, ModifyDBInstanceCommand, AddTagsToResourceCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { afterAll, describe, expect, it } from 'vitest';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const bootstrapKey = newAccessKey();
const config = {
  api: { listen: 'auto' },
  iam: { users: [{ name: 'from-config', accessKeys: [bootstrapKey] }] },
  instances: [
    // No server behind it: the RDS API needs only the registry.
    { id: 'orders-pg', engine: 'postgres', listen: 'auto', target: '127.0.0.1:1', master: { username: 'postgres', password: 'unused' }, iamDatabaseAuthentication: true },
  ],
};
let current: TestIamdb | undefined;
afterAll(() => current?.stop());

type Creds = { accessKeyId: string; secretAccessKey: string };
const client = <T>(C: new (c: object) => T, gw: TestIamdb, creds?: Creds): T =>
  new C({ endpoint: gw.apiUrl, region: REGION, credentials: creds ?? { accessKeyId: gw.admin.id, secretAccessKey: gw.admin.secret }, maxAttempts: 1 });

describe('control-plane state across a restart', () => {
  it('keeps IAM, KMS, Secrets Manager and RDS changes', async () => {
    const first = await startIamdb(config);
    current = first;
    const adminFile = readFileSync(join(first.stateDir, 'state', 'admin-credentials'), 'utf8');
    const iam = client(IAMClient, first);
    await iam.send(new CreateUserCommand({ UserName: 'api-made' }));
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: 'api-made' }))).AccessKey!;
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: '*' }] });
    await iam.send(new PutUserPolicyCommand({ UserName: 'api-made', PolicyName: 'db', PolicyDocument: policy }));
    await iam.send(new PutUserPolicyCommand({ UserName: 'from-config', PolicyName: 'added-by-api', PolicyDocument: policy }));
    const kms = client(KMSClient, first);
    const kmsKey = (await kms.send(new CreateKeyCommand({}))).KeyMetadata!;
    await kms.send(new CreateAliasCommand({ AliasName: 'alias/kept', TargetKeyId: kmsKey.KeyId! }));
    const blob = (await kms.send(new EncryptCommand({ KeyId: 'alias/kept', Plaintext: Buffer.from('survives') }))).CiphertextBlob!;
    const sm = client(SecretsManagerClient, first);
    await sm.send(new CreateSecretCommand({ Name: 'kept', SecretString: 'v1' }));
    await sm.send(new PutSecretValueCommand({ SecretId: 'kept', SecretString: 'v2' }));
    const rds = client(RDSClient, first);
    await rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'orders-pg', EnableIAMDatabaseAuthentication: false, ApplyImmediately: true }));
    await rds.send(new AddTagsToResourceCommand({ ResourceName: `arn:aws:rds:${REGION}:${ACCOUNT}:db:orders-pg`, Tags: [{ Key: 'env', Value: 'dev' }] }));
    await first.stop({ keepState: true });
    current = undefined;

    const second = await startIamdb(config, { restartOf: first });
    current = second;
    expect(readFileSync(join(second.stateDir, 'state', 'admin-credentials'), 'utf8')).toBe(adminFile);
    const who = await client(STSClient, second, { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! }).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe(`arn:aws:iam::${ACCOUNT}:user/api-made`);
    await client(STSClient, second, { accessKeyId: bootstrapKey.id, secretAccessKey: bootstrapKey.secret }).send(new GetCallerIdentityCommand({}));
    const iam2 = client(IAMClient, second);
    expect(decodeURIComponent((await iam2.send(new GetUserPolicyCommand({ UserName: 'api-made', PolicyName: 'db' }))).PolicyDocument!)).toBe(policy);
    expect((await iam2.send(new GetUserPolicyCommand({ UserName: 'from-config', PolicyName: 'added-by-api' }))).PolicyName).toBe('added-by-api');
    const plain = await client(KMSClient, second).send(new DecryptCommand({ CiphertextBlob: blob }));
    expect(Buffer.from(plain.Plaintext!).toString()).toBe('survives');
    const sm2 = client(SecretsManagerClient, second);
    expect((await sm2.send(new GetSecretValueCommand({ SecretId: 'kept' }))).SecretString).toBe('v2');
    expect((await sm2.send(new GetSecretValueCommand({ SecretId: 'kept', VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('v1');
    const db = (await client(RDSClient, second).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders-pg' }))).DBInstances![0]!;
    expect(db.IAMDatabaseAuthenticationEnabled).toBe(false);
    expect(db.TagList).toEqual([{ Key: 'env', Value: 'dev' }]);
    expect(second.app.instances.get('orders-pg')!.iamDatabaseAuthentication).toBe(false);
  });
});
