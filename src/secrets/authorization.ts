/**
 * What a Secrets Manager request on a secret carries into an IAM evaluation:
 * the condition keys Secrets Manager sets (secretsmanager:SecretId, the
 * secret's tags as secretsmanager:ResourceTag/<key> and aws:ResourceTag/<key>,
 * plus the action's own keys) and the secret's resource policy, when it has
 * one. Shared by the control plane's Secrets Manager service and by RDS
 * Proxy's credential resolution, so a GetSecretValue is decided alike
 * whoever makes it.
 *
 * @see https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html
 */
import { parsePolicyOrThrow, type PolicyInput, type RequestContext } from '../iam/index.js';
import type { SecretRecord } from './secret-registry.js';

/** The condition keys of a request on `rec`, with the action's own keys in `extra`. */
export function secretRequestContext(rec: Pick<SecretRecord, 'arn' | 'tags'>, extra: RequestContext = {}): RequestContext {
  const context: Record<string, unknown> = { 'secretsmanager:SecretId': rec.arn, ...extra };
  for (const [k, v] of Object.entries(rec.tags)) {
    context[`secretsmanager:ResourceTag/${k}`] = v;
    context[`aws:ResourceTag/${k}`] = v;
  }
  return context as RequestContext;
}

/** The secret's resource policy as an evaluation input, or undefined when it has none. */
export function secretResourcePolicies(rec: Pick<SecretRecord, 'arn' | 'resourcePolicy'>): PolicyInput[] | undefined {
  return rec.resourcePolicy !== undefined ? [{ label: `${rec.arn}:resource-policy`, policy: parsePolicyOrThrow(rec.resourcePolicy, 'resource') }] : undefined;
}
