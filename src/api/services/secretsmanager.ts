/**
 * Secrets Manager over JSON 1.1 (X-Amz-Target: secretsmanager.<Action>).
 * Each value is encrypted under its KMS key on the caller's behalf: the
 * caller needs the secretsmanager permission on the secret and the KMS
 * permission on the key, evaluated with kms:ViaService set to
 * secretsmanager.<region>.amazonaws.com, as AWS does. Secrets without a
 * KmsKeyId use the account's aws/secretsmanager key, created on first use
 * with a key policy that lets the account use it through Secrets Manager.
 */
import { randomBytes } from 'node:crypto';
import { IamdbError } from '../../errors/index.js';
import { parsePolicyOrThrow, type RequestContext } from '../../iam/index.js';
import type { Keyring } from '../../kms/index.js';
import { DEFAULT_KMS_ALIAS, secretRequestContext, secretResourcePolicies, type DataKeys, type SecretRecord, type SecretRegistry } from '../../secrets/index.js';
import { blob, bool, int, optionalString, requiredString, stringList, tagList } from '../json-params.js';
import { requestTagContext } from '../request-tags.js';
import type { ApiRequestContext, JsonHandler, JsonService } from '../service.js';
import { authorizeKeyUse } from './kms.js';

const seconds = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : ms / 1000);

function tagsJson(tags: Readonly<Record<string, string>>): Array<{ Key: string; Value: string }> {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function stagesOf(rec: SecretRecord): Record<string, string[]> {
  return Object.fromEntries(rec.versions.filter((v) => v.stages.length > 0).map((v) => [v.versionId, [...v.stages]]));
}

function describeJson(rec: SecretRecord, versionsKey: 'VersionIdsToStages' | 'SecretVersionsToStages'): Record<string, unknown> {
  return {
    ARN: rec.arn,
    Name: rec.name,
    ...(rec.description !== undefined ? { Description: rec.description } : {}),
    ...(rec.kmsKeyId !== undefined ? { KmsKeyId: rec.kmsKeyId } : {}),
    RotationEnabled: false,
    LastChangedDate: seconds(rec.lastChangedDate),
    ...(rec.lastAccessedDate !== undefined ? { LastAccessedDate: seconds(rec.lastAccessedDate) } : {}),
    ...(rec.deletedDate !== undefined ? { DeletedDate: seconds(rec.deletedDate) } : {}),
    Tags: tagsJson(rec.tags),
    [versionsKey]: stagesOf(rec),
    CreatedDate: seconds(rec.createdDate),
  };
}

/** SecretString or SecretBinary, exactly one (or neither when `optional`). */
function valueOf(body: Readonly<Record<string, unknown>>, optional: boolean): { value: Buffer; kind: 'string' | 'binary' } | undefined {
  const str = optionalString(body, 'SecretString', 65536);
  const bin = body['SecretBinary'] !== undefined ? blob(body, 'SecretBinary', 65536) : undefined;
  if (str !== undefined && bin !== undefined) throw new IamdbError('SM_INVALID_PARAMETER', { message: 'You can\'t specify both a binary secret value and a string secret value in the same secret.' });
  if (str !== undefined) return { value: Buffer.from(str, 'utf8'), kind: 'string' };
  if (bin !== undefined) return { value: bin, kind: 'binary' };
  if (!optional) throw new IamdbError('SM_INVALID_PARAMETER', { message: 'You must provide either SecretString or SecretBinary.' });
  return undefined;
}

export function secretsManagerService(deps: { registry: SecretRegistry; keyring: Keyring; region: string; account: string; partition: string }): JsonService {
  const { registry, keyring, region, account } = deps;
  const viaService = `secretsmanager.${region}.amazonaws.com`;

  let defaultKey: Promise<string> | undefined;
  /** The account's aws/secretsmanager key, made on first use. */
  const ensureDefaultKey = (): Promise<string> => {
    defaultKey ??= (async () => {
      const alias = await keyring.getAlias(DEFAULT_KMS_ALIAS);
      if (alias !== undefined) return DEFAULT_KMS_ALIAS;
      const policy = JSON.stringify({
        Version: '2012-10-17',
        Id: 'iamdb-secretsmanager-default',
        Statement: [
          {
            Sid: 'UseThroughSecretsManagerForTheAccount',
            Effect: 'Allow',
            Principal: { AWS: '*' },
            Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:DescribeKey'],
            Resource: '*',
            Condition: { StringEquals: { 'kms:CallerAccount': account, 'kms:ViaService': viaService } },
          },
          { Sid: 'ReadMetadataForTheAccount', Effect: 'Allow', Principal: { AWS: `arn:${deps.partition}:iam::${account}:root` }, Action: ['kms:Describe*', 'kms:Get*', 'kms:List*'], Resource: '*' },
        ],
      });
      const key = await keyring.createKey({ description: 'Default key that protects Secrets Manager secrets when no other key is given', policy, keyManager: 'AWS' });
      await keyring.createServiceAlias(DEFAULT_KMS_ALIAS, key.keyId);
      return DEFAULT_KMS_ALIAS;
    })().catch((err: unknown) => {
      defaultKey = undefined;
      throw err;
    });
    return defaultKey;
  };

  /** KMS on the caller's behalf, through Secrets Manager. */
  const dataKeysFor = (ctx: ApiRequestContext): DataKeys => ({
    async generate(keyIdParam, context) {
      const key = await keyring.resolve(keyIdParam);
      authorizeKeyUse(ctx, keyring, 'kms:GenerateDataKey', key, { encryptionContext: context, viaService });
      const plaintext = randomBytes(32);
      const { ciphertext } = await keyring.encrypt(key.keyId, plaintext, context);
      return { keyArn: key.arn, plaintext, encrypted: ciphertext };
    },
    async open(encrypted, context) {
      const key = await keyring.keyOfCiphertext(encrypted);
      authorizeKeyUse(ctx, keyring, 'kms:Decrypt', key, { encryptionContext: context, viaService });
      return (await keyring.decrypt(encrypted, context)).plaintext;
    },
  });

  const authorizeSecret = (ctx: ApiRequestContext, action: string, rec: SecretRecord, extra: RequestContext = {}): void => {
    const resourcePolicies = secretResourcePolicies(rec);
    ctx.authorize(action, rec.arn, { context: secretRequestContext(rec, extra), ...(resourcePolicies ? { resourcePolicies } : {}) });
  };

  const a: Record<string, JsonHandler> = {};
  const found = (body: Readonly<Record<string, unknown>>): Promise<SecretRecord> => registry.find(requiredString(body, 'SecretId', 2048));

  a['CreateSecret'] = async (ctx, body) => {
    const name = requiredString(body, 'Name', 512);
    registry.checkName(name);
    const value = valueOf(body, true);
    const description = optionalString(body, 'Description', 2048);
    const kmsKeyId = optionalString(body, 'KmsKeyId', 2048);
    const tags = tagList(body, 'Tags', 'Key', 'Value');
    if (body['AddReplicaRegions'] !== undefined) throw new IamdbError('API_NOT_SUPPORTED', { message: 'iamdb serves one region; replica regions are not supported' });
    const arn = await registry.newArn(name);
    const tagContext = requestTagContext(tags);
    ctx.authorize('secretsmanager:CreateSecret', arn, {
      context: {
        'secretsmanager:Name': name,
        ...(description !== undefined ? { 'secretsmanager:Description': description } : {}),
        ...(kmsKeyId !== undefined ? { 'secretsmanager:KmsKeyId': kmsKeyId } : {}),
        ...tagContext,
      },
    });
    // Tags given on create are also a TagResource, as AWS authorizes them ("If you include tags in the
    // secret, you also need secretsmanager:TagResource", API_CreateSecret.html): a Deny on tagging
    // refuses the whole create, before anything is stored.
    if (tags) ctx.authorize('secretsmanager:TagResource', arn, { context: { 'secretsmanager:SecretId': arn, ...tagContext } });
    // The key must exist and be usable before anything is stored.
    if (kmsKeyId !== undefined) await keyring.resolve(kmsKeyId);
    const defaultKeyId = kmsKeyId ?? (await ensureDefaultKey());
    const rec = await registry.create({ name, arn, ...(description !== undefined ? { description } : {}), ...(kmsKeyId !== undefined ? { kmsKeyId } : {}), ...(tags ? { tags } : {}) });
    if (value === undefined) return { ARN: rec.arn, Name: rec.name };
    const token = optionalString(body, 'ClientRequestToken');
    try {
      const put = await registry.putValue(rec.arn, { ...value, ...(token !== undefined ? { token } : {}) }, dataKeysFor(ctx), defaultKeyId);
      return { ARN: rec.arn, Name: rec.name, VersionId: put.version.versionId };
    } catch (err) {
      // Nothing half-made stays: a secret whose first value could not be stored is removed.
      await registry.discard(rec.arn);
      throw err;
    }
  };

  a['GetSecretValue'] = async (ctx, body) => {
    const rec = await found(body);
    const versionId = optionalString(body, 'VersionId');
    const stage = optionalString(body, 'VersionStage');
    authorizeSecret(ctx, 'secretsmanager:GetSecretValue', rec, {
      ...(stage !== undefined ? { 'secretsmanager:VersionStage': stage } : {}),
      ...(versionId !== undefined ? { 'secretsmanager:VersionId': versionId } : {}),
    });
    const version = registry.selectVersion(rec, { ...(versionId !== undefined ? { versionId } : {}), ...(stage !== undefined ? { stage } : {}) });
    const value = await registry.open(rec, version, dataKeysFor(ctx));
    await registry.touch(rec.arn);
    return {
      ARN: rec.arn,
      Name: rec.name,
      VersionId: version.versionId,
      ...(version.kind === 'string' ? { SecretString: value.toString('utf8') } : { SecretBinary: value.toString('base64') }),
      VersionStages: [...version.stages],
      CreatedDate: seconds(version.createdDate),
    };
  };

  a['PutSecretValue'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:PutSecretValue', rec);
    const value = valueOf(body, false)!;
    const token = optionalString(body, 'ClientRequestToken');
    const stages = stringList(body, 'VersionStages');
    const put = await registry.putValue(rec.arn, { ...value, ...(token !== undefined ? { token } : {}), ...(stages ? { stages } : {}) }, dataKeysFor(ctx), rec.kmsKeyId ?? (await ensureDefaultKey()));
    return { ARN: rec.arn, Name: rec.name, VersionId: put.version.versionId, VersionStages: [...put.version.stages] };
  };

  a['UpdateSecret'] = async (ctx, body) => {
    const rec = await found(body);
    const description = optionalString(body, 'Description', 2048);
    const kmsKeyId = optionalString(body, 'KmsKeyId', 2048);
    authorizeSecret(ctx, 'secretsmanager:UpdateSecret', rec, {
      ...(description !== undefined ? { 'secretsmanager:Description': description } : {}),
      ...(kmsKeyId !== undefined ? { 'secretsmanager:KmsKeyId': kmsKeyId } : {}),
    });
    const value = valueOf(body, true);
    // Everything that can be refused is done before the secret's settings change: the new value
    // is stored first (under the new key), or the caller's use of the new key is checked.
    let versionId: string | undefined;
    if (value !== undefined) {
      const token = optionalString(body, 'ClientRequestToken');
      const put = await registry.putValue(rec.arn, { ...value, ...(token !== undefined ? { token } : {}), ...(kmsKeyId !== undefined ? { keyId: kmsKeyId } : {}) }, dataKeysFor(ctx), kmsKeyId ?? rec.kmsKeyId ?? (await ensureDefaultKey()));
      versionId = put.version.versionId;
    } else if (kmsKeyId !== undefined) {
      authorizeKeyUse(ctx, keyring, 'kms:GenerateDataKey', await keyring.resolve(kmsKeyId), { encryptionContext: { SecretARN: rec.arn }, viaService });
    }
    if (description !== undefined || kmsKeyId !== undefined) {
      await registry.update(rec.arn, { ...(description !== undefined ? { description } : {}), ...(kmsKeyId !== undefined ? { kmsKeyId } : {}) });
    }
    return { ARN: rec.arn, Name: rec.name, ...(versionId !== undefined ? { VersionId: versionId } : {}) };
  };

  a['UpdateSecretVersionStage'] = async (ctx, body) => {
    const rec = await found(body);
    const stage = requiredString(body, 'VersionStage', 256);
    authorizeSecret(ctx, 'secretsmanager:UpdateSecretVersionStage', rec, { 'secretsmanager:VersionStage': stage });
    const to = optionalString(body, 'MoveToVersionId');
    const from = optionalString(body, 'RemoveFromVersionId');
    await registry.moveStage(rec.arn, stage, to, from);
    return { ARN: rec.arn, Name: rec.name };
  };

  a['DescribeSecret'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:DescribeSecret', rec);
    return describeJson(rec, 'VersionIdsToStages');
  };

  a['ListSecretVersionIds'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:ListSecretVersionIds', rec);
    const includeDeprecated = bool(body, 'IncludeDeprecated') ?? false;
    const versions = rec.versions.filter((v) => includeDeprecated || v.stages.length > 0);
    return { ARN: rec.arn, Name: rec.name, Versions: versions.map((v) => ({ VersionId: v.versionId, VersionStages: [...v.stages], CreatedDate: seconds(v.createdDate) })) };
  };

  a['ListSecrets'] = async (ctx, body) => {
    ctx.authorize('secretsmanager:ListSecrets', '*');
    const include = bool(body, 'IncludePlannedDeletion') ?? false;
    const filters = Array.isArray(body['Filters']) ? (body['Filters'] as Array<{ Key?: unknown; Values?: unknown }>) : [];
    const matches = (rec: SecretRecord): boolean =>
      filters.every((f) => {
        const values = Array.isArray(f.Values) ? f.Values.filter((v): v is string => typeof v === 'string') : [];
        const fields: Record<string, string[]> = {
          name: [rec.name],
          description: rec.description !== undefined ? [rec.description] : [],
          'tag-key': Object.keys(rec.tags),
          'tag-value': Object.values(rec.tags),
        };
        const key = typeof f.Key === 'string' ? f.Key : '';
        const pool = key === 'all' ? Object.values(fields).flat() : fields[key];
        if (pool === undefined) throw new IamdbError('SM_INVALID_PARAMETER', { message: `Invalid filter key: ${key.slice(0, 32)}` });
        return values.some((v) => (v.startsWith('!') ? !pool.some((p) => p.startsWith(v.slice(1))) : pool.some((p) => p.startsWith(v))));
      });
    const all = (await registry.list(include)).filter(matches);
    const max = int(body, 'MaxResults', { min: 1, max: 100 }) ?? 100;
    const tokenParam = optionalString(body, 'NextToken');
    const start = tokenParam !== undefined && /^\d{1,9}$/.test(tokenParam) ? Math.min(Number(tokenParam), all.length) : 0;
    const slice = all.slice(start, start + max);
    const next = start + slice.length;
    return { SecretList: slice.map((r) => describeJson(r, 'SecretVersionsToStages')), ...(next < all.length ? { NextToken: String(next) } : {}) };
  };

  a['DeleteSecret'] = async (ctx, body) => {
    const rec = await found(body);
    const days = int(body, 'RecoveryWindowInDays');
    const force = bool(body, 'ForceDeleteWithoutRecovery') ?? false;
    authorizeSecret(ctx, 'secretsmanager:DeleteSecret', rec, {
      ...(days !== undefined ? { 'secretsmanager:RecoveryWindowInDays': String(days) } : {}),
      'secretsmanager:ForceDeleteWithoutRecovery': force ? 'true' : 'false',
    });
    const out = await registry.delete(rec.arn, { ...(days !== undefined ? { recoveryDays: days } : {}), force });
    return { ARN: rec.arn, Name: rec.name, DeletionDate: seconds(out.deletionDate) };
  };

  a['RestoreSecret'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:RestoreSecret', rec);
    await registry.restore(rec.arn);
    return { ARN: rec.arn, Name: rec.name };
  };

  a['PutResourcePolicy'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:PutResourcePolicy', rec);
    const policy = requiredString(body, 'ResourcePolicy', 20480);
    parsePolicyOrThrow(policy, 'resource');
    await registry.setResourcePolicy(rec.arn, policy);
    return { ARN: rec.arn, Name: rec.name };
  };
  a['GetResourcePolicy'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:GetResourcePolicy', rec);
    return { ARN: rec.arn, Name: rec.name, ...(rec.resourcePolicy !== undefined ? { ResourcePolicy: rec.resourcePolicy } : {}) };
  };
  a['DeleteResourcePolicy'] = async (ctx, body) => {
    const rec = await found(body);
    authorizeSecret(ctx, 'secretsmanager:DeleteResourcePolicy', rec);
    await registry.setResourcePolicy(rec.arn, undefined);
    return { ARN: rec.arn, Name: rec.name };
  };

  a['TagResource'] = async (ctx, body) => {
    const rec = await found(body);
    const tags = tagList(body, 'Tags', 'Key', 'Value') ?? {};
    authorizeSecret(ctx, 'secretsmanager:TagResource', rec, requestTagContext(tags));
    await registry.tag(rec.arn, tags);
    return {};
  };
  a['UntagResource'] = async (ctx, body) => {
    const rec = await found(body);
    const keys = stringList(body, 'TagKeys') ?? [];
    authorizeSecret(ctx, 'secretsmanager:UntagResource', rec, { 'aws:TagKeys': keys });
    await registry.tag(rec.arn, {}, keys);
    return {};
  };

  return {
    protocol: 'json',
    name: 'secretsmanager',
    targetPrefix: 'secretsmanager',
    actions: a,
    errorOverrides: {
      API_VALIDATION: { code: 'InvalidParameterException' },
      KMS_NOT_FOUND: { code: 'ResourceNotFoundException' },
      KMS_DISABLED: { code: 'InvalidRequestException' },
      KMS_INVALID_STATE: { code: 'InvalidRequestException' },
      API_NOT_SUPPORTED: { code: 'InvalidRequestException' },
    },
  };
}
