/**
 * KMS over JSON 1.1 (X-Amz-Target: TrentService.<Action>): symmetric keys,
 * aliases, key policies, Encrypt, Decrypt and data keys. Every call on a key
 * is authorized against the caller's policies and the key policy, the way
 * KMS does it: the key policy must allow, either naming the caller or
 * delegating to the account's IAM policies (the default policy does that).
 */
import { randomBytes } from 'node:crypto';
import { IamdbError } from '../../errors/index.js';
import { keyPolicyInputs, keyUseContext, type KeyUseOptions, type KmsAlias, type KmsKey, type Keyring } from '../../kms/index.js';
import type { ApiRequestContext, JsonHandler, JsonService } from '../service.js';
import { blob, bool, int, optionalString, requiredString, stringMap, tagList } from '../json-params.js';
import { requestTagContext } from '../request-tags.js';

const epochSeconds = (ms: number): number => ms / 1000;

export function keyMetadata(k: KmsKey, account: string): Record<string, unknown> {
  return {
    AWSAccountId: account,
    KeyId: k.keyId,
    Arn: k.arn,
    CreationDate: epochSeconds(k.creationDate),
    Enabled: k.keyState === 'Enabled',
    Description: k.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: k.keyState,
    ...(k.deletionDate !== undefined ? { DeletionDate: epochSeconds(k.deletionDate) } : {}),
    Origin: 'AWS_KMS',
    KeyManager: k.keyManager,
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
  };
}

/**
 * Authorizes a KMS action on a key for the caller: identity policies plus
 * the key policy, which must itself allow. `viaService` is set when another
 * service (Secrets Manager) uses the key on the caller's behalf.
 */
export function authorizeKeyUse(ctx: ApiRequestContext, keyring: Keyring, action: string, key: KmsKey, options: KeyUseOptions = {}): void {
  ctx.authorize(action, key.arn, {
    context: keyUseContext(ctx.caller.principal.accountId, options),
    resourcePolicies: keyPolicyInputs(keyring, key),
    requireResourceAllow: true,
  });
}

function aliasJson(a: KmsAlias): Record<string, unknown> {
  return { AliasName: a.aliasName, AliasArn: a.aliasArn, TargetKeyId: a.targetKeyId, CreationDate: epochSeconds(a.creationDate) };
}

/** Limit/Marker pagination over a list; the marker is the index of the next item. */
function page<T>(items: readonly T[], body: Readonly<Record<string, unknown>>): { items: T[]; more: Record<string, unknown> } {
  const limit = int(body, 'Limit', { min: 1, max: 1000 }) ?? 100;
  const marker = optionalString(body, 'Marker');
  const start = marker !== undefined && /^\d{1,9}$/.test(marker) ? Math.min(Number(marker), items.length) : 0;
  const slice = items.slice(start, start + limit);
  const next = start + slice.length;
  return { items: slice, more: next < items.length ? { Truncated: true, NextMarker: String(next) } : { Truncated: false } };
}

export function kmsService(deps: { keyring: Keyring; account: string }): JsonService {
  const { keyring, account } = deps;
  /**
   * AWS's policy lockout safety check: a key policy that would not let the
   * caller change it again is refused unless BypassPolicyLockoutSafetyCheck
   * is true. iamdb has no account root to recover a locked key, so the check matters more here.
   */
  const lockoutCheck = (ctx: ApiRequestContext, body: Readonly<Record<string, unknown>>, policyText: string, keyArn: string): void => {
    if (bool(body, 'BypassPolicyLockoutSafetyCheck') === true) return;
    const policy = keyring.parseKeyPolicy(policyText);
    const ok = ctx.allows('kms:PutKeyPolicy', keyArn, {
      context: { 'kms:CallerAccount': ctx.caller.principal.accountId },
      resourcePolicies: [{ label: `${keyArn}:key-policy`, policy }],
      requireResourceAllow: true,
    });
    if (!ok) throw new IamdbError('IAM_MALFORMED_POLICY', { message: 'The new key policy will not allow you to update the key policy in the future.' });
  };
  const a: Record<string, JsonHandler> = {};
  const keyOf = (body: Readonly<Record<string, unknown>>): Promise<KmsKey> => keyring.resolve(requiredString(body, 'KeyId'));

  a['CreateKey'] = async (ctx, body) => {
    const spec = optionalString(body, 'KeySpec') ?? optionalString(body, 'CustomerMasterKeySpec') ?? 'SYMMETRIC_DEFAULT';
    const usage = optionalString(body, 'KeyUsage') ?? 'ENCRYPT_DECRYPT';
    const origin = optionalString(body, 'Origin') ?? 'AWS_KMS';
    const tags = tagList(body, 'Tags', 'TagKey', 'TagValue');
    const tagContext = requestTagContext(tags);
    // The condition keys the service authorization reference lists for kms:CreateKey (list_awskeymanagementservice.html).
    ctx.authorize('kms:CreateKey', '*', {
      context: {
        'kms:CallerAccount': ctx.caller.principal.accountId,
        'kms:KeySpec': spec,
        'kms:KeyUsage': usage,
        'kms:KeyOrigin': origin,
        'kms:MultiRegion': bool(body, 'MultiRegion') ?? false,
        'kms:BypassPolicyLockoutSafetyCheck': bool(body, 'BypassPolicyLockoutSafetyCheck') ?? false,
        ...tagContext,
      },
    });
    if (spec !== 'SYMMETRIC_DEFAULT' || usage !== 'ENCRYPT_DECRYPT') {
      throw new IamdbError('API_NOT_SUPPORTED', { message: 'iamdb KMS keys are symmetric (KeySpec SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT)' });
    }
    if (origin !== 'AWS_KMS') throw new IamdbError('API_NOT_SUPPORTED', { message: 'iamdb generates key material itself (Origin AWS_KMS)' });
    const policy = optionalString(body, 'Policy');
    const description = optionalString(body, 'Description');
    const keyId = keyring.newKeyId();
    // Tags given on create are also a kms:TagResource, which only an IAM policy can grant here (the key
    // policy does not exist yet): "To add tags when creating a KMS key, the caller must have
    // kms:TagResource permission in an IAM policy" (manage-tags-api.html). A refusal stores nothing.
    if (tags) ctx.authorize('kms:TagResource', keyring.keyArn(keyId), { context: { 'kms:CallerAccount': ctx.caller.principal.accountId, ...tagContext } });
    // kms:PutKeyPolicy, CreateKey's other dependent action, is the lockout check: the caller must be able to change the policy it sets.
    if (policy !== undefined) lockoutCheck(ctx, body, policy, keyring.keyArn(keyId));
    const key = await keyring.createKey({ keyId, ...(policy !== undefined ? { policy } : {}), ...(description !== undefined ? { description } : {}), ...(tags ? { tags } : {}) });
    return { KeyMetadata: keyMetadata(key, account) };
  };
  a['DescribeKey'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:DescribeKey', key);
    return { KeyMetadata: keyMetadata(key, account) };
  };
  a['ListKeys'] = async (ctx, body) => {
    ctx.authorize('kms:ListKeys', '*');
    const { items, more } = page(await keyring.listKeys(), body);
    return { Keys: items.map((k) => ({ KeyId: k.keyId, KeyArn: k.arn })), ...more };
  };
  for (const [action, enabled] of [['EnableKey', true], ['DisableKey', false]] as const) {
    a[action] = async (ctx, body) => {
      const key = await keyOf(body);
      authorizeKeyUse(ctx, keyring, `kms:${action}`, key);
      await keyring.setEnabled(key.keyId, enabled);
      return {};
    };
  }
  a['ScheduleKeyDeletion'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:ScheduleKeyDeletion', key);
    const updated = await keyring.scheduleDeletion(key.keyId, int(body, 'PendingWindowInDays') ?? 30);
    return { KeyId: updated.arn, DeletionDate: epochSeconds(updated.deletionDate!), KeyState: updated.keyState, PendingWindowInDays: int(body, 'PendingWindowInDays') ?? 30 };
  };
  a['CancelKeyDeletion'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:CancelKeyDeletion', key);
    await keyring.cancelDeletion(key.keyId);
    return { KeyId: key.arn };
  };
  a['UpdateKeyDescription'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:UpdateKeyDescription', key);
    await keyring.updateDescription(key.keyId, requiredString(body, 'Description'));
    return {};
  };
  a['GetKeyPolicy'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:GetKeyPolicy', key);
    const name = optionalString(body, 'PolicyName') ?? 'default';
    if (name !== 'default') throw new IamdbError('KMS_NOT_FOUND', { message: `No such policy exists: ${name.slice(0, 64)}` });
    return { Policy: key.policy, PolicyName: 'default' };
  };
  a['PutKeyPolicy'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:PutKeyPolicy', key, { context: { 'kms:BypassPolicyLockoutSafetyCheck': bool(body, 'BypassPolicyLockoutSafetyCheck') ?? false } });
    const name = optionalString(body, 'PolicyName') ?? 'default';
    if (name !== 'default') throw new IamdbError('KMS_INVALID_INPUT', { message: 'The only valid key policy name is "default".' });
    const policy = requiredString(body, 'Policy');
    lockoutCheck(ctx, body, policy, key.arn);
    await keyring.putPolicy(key.keyId, policy);
    return {};
  };
  a['ListKeyPolicies'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:ListKeyPolicies', key);
    return { PolicyNames: ['default'], Truncated: false };
  };
  a['TagResource'] = async (ctx, body) => {
    const key = await keyOf(body);
    const tags = tagList(body, 'Tags', 'TagKey', 'TagValue') ?? {};
    authorizeKeyUse(ctx, keyring, 'kms:TagResource', key, { context: requestTagContext(tags) });
    await keyring.tag(key.keyId, tags);
    return {};
  };
  a['UntagResource'] = async (ctx, body) => {
    const key = await keyOf(body);
    const keys = body['TagKeys'];
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string')) throw new IamdbError('API_VALIDATION', { message: "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null" });
    authorizeKeyUse(ctx, keyring, 'kms:UntagResource', key, { context: { 'aws:TagKeys': keys as string[] } });
    await keyring.tag(key.keyId, {}, keys as string[]);
    return {};
  };
  a['ListResourceTags'] = async (ctx, body) => {
    const key = await keyOf(body);
    authorizeKeyUse(ctx, keyring, 'kms:ListResourceTags', key);
    return { Tags: Object.entries(key.tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })), Truncated: false };
  };

  // ---- aliases -------------------------------------------------------------
  a['CreateAlias'] = async (ctx, body) => {
    const aliasName = requiredString(body, 'AliasName');
    keyring.checkNotReserved(aliasName);
    const key = await keyring.resolve(requiredString(body, 'TargetKeyId'));
    ctx.authorize('kms:CreateAlias', keyring.aliasArn(aliasName));
    authorizeKeyUse(ctx, keyring, 'kms:CreateAlias', key);
    await keyring.createAlias(aliasName, key.keyId);
    return {};
  };
  a['UpdateAlias'] = async (ctx, body) => {
    const aliasName = requiredString(body, 'AliasName');
    keyring.checkNotReserved(aliasName);
    const key = await keyring.resolve(requiredString(body, 'TargetKeyId'));
    ctx.authorize('kms:UpdateAlias', keyring.aliasArn(aliasName));
    // As in AWS: the caller needs the permission on the key the alias leaves as well as the one it joins.
    const current = await keyring.getAlias(aliasName);
    if (current !== undefined) authorizeKeyUse(ctx, keyring, 'kms:UpdateAlias', await keyring.resolve(current.targetKeyId));
    authorizeKeyUse(ctx, keyring, 'kms:UpdateAlias', key);
    await keyring.updateAlias(aliasName, key.keyId);
    return {};
  };
  a['DeleteAlias'] = async (ctx, body) => {
    const aliasName = requiredString(body, 'AliasName');
    keyring.checkNotReserved(aliasName);
    ctx.authorize('kms:DeleteAlias', keyring.aliasArn(aliasName));
    const alias = await keyring.getAlias(aliasName);
    if (alias !== undefined) authorizeKeyUse(ctx, keyring, 'kms:DeleteAlias', await keyring.resolve(alias.targetKeyId));
    await keyring.deleteAlias(aliasName);
    return {};
  };
  a['ListAliases'] = async (ctx, body) => {
    ctx.authorize('kms:ListAliases', '*');
    const keyParam = optionalString(body, 'KeyId');
    const keyId = keyParam !== undefined ? (await keyring.resolve(keyParam)).keyId : undefined;
    const all = (await keyring.listAliases()).filter((x) => keyId === undefined || x.targetKeyId === keyId);
    const { items, more } = page(all, body);
    return { Aliases: items.map(aliasJson), ...more };
  };

  // ---- cryptography --------------------------------------------------------
  a['Encrypt'] = async (ctx, body) => {
    const key = await keyOf(body);
    const context = stringMap(body, 'EncryptionContext');
    checkAlgorithm(body);
    authorizeKeyUse(ctx, keyring, 'kms:Encrypt', key, { encryptionContext: context });
    const out = await keyring.encrypt(key.keyId, blob(body, 'Plaintext'), context);
    return { CiphertextBlob: out.ciphertext.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  };
  a['Decrypt'] = async (ctx, body) => {
    const ciphertext = blob(body, 'CiphertextBlob');
    const context = stringMap(body, 'EncryptionContext');
    checkAlgorithm(body);
    const key = await keyring.keyOfCiphertext(ciphertext);
    authorizeKeyUse(ctx, keyring, 'kms:Decrypt', key, { encryptionContext: context });
    const out = await keyring.decrypt(ciphertext, context, optionalString(body, 'KeyId'));
    return { KeyId: key.arn, Plaintext: out.plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  };
  const dataKey = (withPlaintext: boolean): JsonHandler => async (ctx, body) => {
    const key = await keyOf(body);
    const context = stringMap(body, 'EncryptionContext');
    const spec = optionalString(body, 'KeySpec');
    const n = int(body, 'NumberOfBytes', { min: 1, max: 1024 });
    if ((spec === undefined) === (n === undefined)) throw new IamdbError('API_VALIDATION', { message: 'Please specify either number of bytes or key spec.' });
    if (spec !== undefined && spec !== 'AES_256' && spec !== 'AES_128') throw new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value '${spec.slice(0, 32)}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]` });
    authorizeKeyUse(ctx, keyring, withPlaintext ? 'kms:GenerateDataKey' : 'kms:GenerateDataKeyWithoutPlaintext', key, { encryptionContext: context });
    const plaintext = randomBytes(n ?? (spec === 'AES_128' ? 16 : 32));
    const out = await keyring.encrypt(key.keyId, plaintext, context);
    return { CiphertextBlob: out.ciphertext.toString('base64'), ...(withPlaintext ? { Plaintext: plaintext.toString('base64') } : {}), KeyId: key.arn };
  };
  a['GenerateDataKey'] = dataKey(true);
  a['GenerateDataKeyWithoutPlaintext'] = dataKey(false);

  return {
    protocol: 'json',
    name: 'kms',
    targetPrefix: 'TrentService',
    actions: a,
    // No overrides: the JSON defaults (ValidationException, AccessDeniedException, …) are KMS's own words.
  };
}

function checkAlgorithm(body: Readonly<Record<string, unknown>>): void {
  const alg = optionalString(body, 'EncryptionAlgorithm');
  if (alg !== undefined && alg !== 'SYMMETRIC_DEFAULT') throw new IamdbError('API_NOT_SUPPORTED', { message: 'iamdb KMS keys use SYMMETRIC_DEFAULT' });
}

