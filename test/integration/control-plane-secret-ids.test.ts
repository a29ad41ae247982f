/**
 * Secret ids through the control plane, driven by the SDK v3 clients: a full
 * ARN names only the secret with exactly that ARN, in every action that takes
 * a SecretId, and a name that is another secret's ARN tail is refused, so a
 * caller allowed to create secrets next to another one cannot capture the
 * reads and writes meant for it (issue 8, item 7).
 */
import { randomBytes } from 'node:crypto';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  DeleteResourcePolicyCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetResourcePolicyCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutResourcePolicyCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateSecretCommand,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
beforeAll(async () => {
  iamdb = await startIamdb({ api: { listen: 'auto' } });
});
afterAll(() => iamdb?.stop());

type Creds = { accessKeyId: string; secretAccessKey: string };
const admin = (): Creds => ({ accessKeyId: iamdb.admin.id, secretAccessKey: iamdb.admin.secret });
const sdk = <T>(Client: new (c: object) => T, credentials: Creds): T => new Client({ endpoint: iamdb.apiUrl, region: REGION, credentials, maxAttempts: 1 });
const secretArn = (tail: string): string => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${tail}`;
const tailOf = (arn: string): string => arn.slice(secretArn('').length);

/**
 * A user who may do anything with secrets under `app-ID/`, except the one the
 * victim owns, excluded the way AWS recommends writing such policies
 * (`NAME-??????`, the name and the random suffix).
 */
async function squatter(prefix: string, victimName: string): Promise<SecretsManagerClient> {
  const iam = sdk(IAMClient, admin());
  const name = `squatter-${randomBytes(3).toString('hex')}`;
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(
    new PutUserPolicyCommand({
      UserName: name,
      PolicyName: 'own-prefix',
      PolicyDocument: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'secretsmanager:*', Resource: secretArn(`${prefix}/*`) },
          { Effect: 'Deny', Action: 'secretsmanager:*', Resource: secretArn(`${victimName}-??????`) },
        ],
      }),
    }),
  );
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
  return sdk(SecretsManagerClient, { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! });
}

function names(): { prefix: string; victim: string } {
  const prefix = `app-${randomBytes(3).toString('hex')}`;
  return { prefix, victim: `${prefix}/db` };
}

describe('secret ids', () => {
  it("refuses a secret named like another secret's ARN tail, so writes by that ARN stay with that secret", async () => {
    const { prefix, victim } = names();
    const sm = sdk(SecretsManagerClient, admin());
    const victimArn = (await sm.send(new CreateSecretCommand({ Name: victim, SecretString: 'first-password' }))).ARN!;
    const mallory = await squatter(prefix, victim);
    await expect(mallory.send(new GetSecretValueCommand({ SecretId: victimArn }))).rejects.toMatchObject({ name: 'AccessDeniedException' });

    await expect(mallory.send(new CreateSecretCommand({ Name: tailOf(victimArn), SecretString: 'bait' }))).rejects.toMatchObject({
      name: 'InvalidRequestException',
      message: `You can't create a secret named ${tailOf(victimArn)} because another secret's ARN ends in that name. Don't end a secret name with a hyphen followed by six characters.`,
    });
    expect(iamdb.apiEvents().at(-1)).toMatchObject({ action: 'CreateSecret', reason: 'SM_NAME_IS_ANOTHER_ARN' });

    // A rotation names the victim by its full ARN: the new password lands there and nowhere else.
    const put = await sm.send(new PutSecretValueCommand({ SecretId: victimArn, SecretString: 'rotated-password' }));
    expect(put.ARN).toBe(victimArn);
    expect((await sm.send(new GetSecretValueCommand({ SecretId: victim }))).SecretString).toBe('rotated-password');
    await expect(mallory.send(new GetSecretValueCommand({ SecretId: tailOf(victimArn) }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    // Names that only look like an ARN tail are AWS's to allow.
    expect((await mallory.send(new CreateSecretCommand({ Name: `${victim}-prod01`, SecretString: 'fine' }))).Name).toBe(`${victim}-prod01`);
  });

  it("finds nothing by a deleted secret's ARN in any action, even when a secret is named like its tail", async () => {
    const { prefix, victim } = names();
    const sm = sdk(SecretsManagerClient, admin());
    const victimArn = (await sm.send(new CreateSecretCommand({ Name: victim, SecretString: 'first-password' }))).ARN!;
    await sm.send(new DeleteSecretCommand({ SecretId: victimArn, ForceDeleteWithoutRecovery: true }));
    // With the victim gone nothing is ambiguous any more, so the name is allowed…
    const mallory = await squatter(prefix, victim);
    const bait = await mallory.send(new CreateSecretCommand({ Name: tailOf(victimArn), SecretString: 'bait' }));
    expect(bait.ARN).toMatch(new RegExp(`^${victimArn}-[A-Za-z0-9]{6}$`));

    // …and whatever still names the deleted secret by its ARN (a rotation job, a proxy) finds nothing.
    const byOldArn = { SecretId: victimArn };
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['GetSecretValue', () => sm.send(new GetSecretValueCommand(byOldArn))],
      ['PutSecretValue', () => sm.send(new PutSecretValueCommand({ ...byOldArn, SecretString: 'rotated-password' }))],
      ['UpdateSecret', () => sm.send(new UpdateSecretCommand({ ...byOldArn, Description: 'changed', SecretString: 'rotated-password' }))],
      ['UpdateSecretVersionStage', () => sm.send(new UpdateSecretVersionStageCommand({ ...byOldArn, VersionStage: 'AWSCURRENT', RemoveFromVersionId: bait.VersionId! }))],
      ['DescribeSecret', () => sm.send(new DescribeSecretCommand(byOldArn))],
      ['ListSecretVersionIds', () => sm.send(new ListSecretVersionIdsCommand(byOldArn))],
      ['TagResource', () => sm.send(new TagResourceCommand({ ...byOldArn, Tags: [{ Key: 'owner', Value: 'db-team' }] }))],
      ['UntagResource', () => sm.send(new UntagResourceCommand({ ...byOldArn, TagKeys: ['owner'] }))],
      ['PutResourcePolicy', () => sm.send(new PutResourcePolicyCommand({ ...byOldArn, ResourcePolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'secretsmanager:GetSecretValue', Resource: '*' }] }) }))],
      ['GetResourcePolicy', () => sm.send(new GetResourcePolicyCommand(byOldArn))],
      ['DeleteResourcePolicy', () => sm.send(new DeleteResourcePolicyCommand(byOldArn))],
      ['RestoreSecret', () => sm.send(new RestoreSecretCommand(byOldArn))],
      ['DeleteSecret', () => sm.send(new DeleteSecretCommand({ ...byOldArn, RecoveryWindowInDays: 7 }))],
    ];
    for (const [action, call] of calls) {
      await expect(call(), action).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    }
    const kept = await mallory.send(new DescribeSecretCommand({ SecretId: tailOf(victimArn) }));
    expect(kept).toMatchObject({ ARN: bait.ARN, Tags: [], VersionIdsToStages: { [bait.VersionId!]: ['AWSCURRENT'] } });
    expect(kept.Description).toBeUndefined();
    expect(kept.DeletedDate).toBeUndefined();
    expect((await mallory.send(new GetResourcePolicyCommand({ SecretId: bait.ARN! }))).ResourcePolicy).toBeUndefined();
    expect((await mallory.send(new GetSecretValueCommand({ SecretId: bait.ARN! }))).SecretString).toBe('bait');
  });

  it('still finds a secret by its name, its full ARN and its ARN without the suffix', async () => {
    const { victim } = names();
    const sm = sdk(SecretsManagerClient, admin());
    const arn = (await sm.send(new CreateSecretCommand({ Name: victim, SecretString: 'v' }))).ARN!;
    for (const id of [victim, arn, arn.slice(0, -7)]) expect((await sm.send(new DescribeSecretCommand({ SecretId: id }))).ARN, id).toBe(arn);
    for (const id of [`${victim}-${arn.slice(-6)}`, `${arn.slice(0, -6)}AAAAAA`, arn.replace(`:${ACCOUNT}:`, ':210987654321:'), arn.replace(':aws:', ':aws-cn:')]) {
      await expect(sm.send(new DescribeSecretCommand({ SecretId: id })), id).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    }
  });
});
