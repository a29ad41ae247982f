/**
 * What a request to use a KMS key carries into an IAM evaluation, as KMS
 * builds it: the condition keys of the call (kms:CallerAccount, kms:ViaService
 * when another service calls on the principal's behalf, one
 * kms:EncryptionContext:<key> per pair and kms:EncryptionContextKeys) and the
 * key policy as the resource policy that must itself allow. Shared by the
 * control plane's KMS and Secrets Manager services and by RDS Proxy's
 * credential resolution, so the three decide a key's use alike.
 *
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
 */
import type { ContextValue, PolicyInput, RequestContext } from '../iam/index.js';
import type { Keyring, KmsKey } from './keyring.js';

/** How a key is used: through which service, under which encryption context, with which further condition keys. */
export interface KeyUseOptions {
  readonly encryptionContext?: Readonly<Record<string, string>>;
  /** `secretsmanager.<region>.amazonaws.com` when Secrets Manager uses the key for the caller. */
  readonly viaService?: string;
  /** Further condition keys of the request (aws:RequestTag/*, aws:TagKeys, …). */
  readonly context?: RequestContext;
}

/**
 * The condition keys KMS sets for a use of a key by a caller of `callerAccount`.
 *
 * @example keyUseContext('123456789012', { viaService: 'secretsmanager.us-east-1.amazonaws.com', encryptionContext: { SecretARN: arn } })
 */
export function keyUseContext(callerAccount: string, options: KeyUseOptions = {}): RequestContext {
  const context: Record<string, ContextValue> = { ...options.context, 'kms:CallerAccount': callerAccount };
  if (options.viaService !== undefined) context['kms:ViaService'] = options.viaService;
  const ec = options.encryptionContext ?? {};
  for (const [k, v] of Object.entries(ec)) context[`kms:EncryptionContext:${k}`] = v;
  if (Object.keys(ec).length > 0) context['kms:EncryptionContextKeys'] = Object.keys(ec);
  return context;
}

/** The key policy as the resource policy of an evaluation (it must itself allow: KMS never lets identity policies alone open a key). */
export function keyPolicyInputs(keyring: Keyring, key: KmsKey): PolicyInput[] {
  return [{ label: `${key.arn}:key-policy`, policy: keyring.parseKeyPolicy(key.policy) }];
}
