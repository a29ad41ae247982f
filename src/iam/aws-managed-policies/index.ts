/**
 * AWS managed policies as the directory serves them: ARN
 * `arn:<partition>:iam::aws:policy<path><name>`, a stable `ANPA…` id, the
 * default version's document (parsed once per process and partition), and
 * AWS's dates. They belong to no account: the directory never stores them in
 * its state and refuses every change to them.
 */
import { createHash } from 'node:crypto';
import { newEntityId, ID_PREFIX } from '../entities.js';
import { parsePolicyOrThrow } from '../policy/parse.js';
import type { Policy } from '../policy/types.js';
import { AWS_MANAGED_POLICIES, type AwsManagedPolicyData } from './catalog.js';

export { AWS_MANAGED_POLICIES, type AwsManagedPolicyData } from './catalog.js';

/** An AWS managed policy ready for the directory. */
export interface AwsManagedPolicy {
  readonly arn: string;
  readonly policyName: string;
  readonly policyId: string;
  readonly path: string;
  readonly description: string;
  readonly createDate: string;
  readonly updateDate: string;
  readonly versionId: string;
  /** The document text, pretty-printed as IAM returns AWS's documents. */
  readonly document: string;
  readonly policy: Policy;
}

/** The owner field of every AWS managed policy ARN. */
export const AWS_POLICY_OWNER = 'aws';

/** True for `arn:<partition>:iam::aws:policy/…`. */
export function isAwsManagedPolicyArn(arn: string): boolean {
  const parts = arn.split(':');
  return parts.length >= 6 && parts[0] === 'arn' && parts[2] === 'iam' && parts[4] === AWS_POLICY_OWNER && (parts[5] ?? '').startsWith('policy/');
}

/**
 * AWS does not publish policy ids in its reference guide; ours are derived
 * from the name so they are the same in every iamdb and across restarts.
 */
function stablePolicyId(name: string): string {
  let counter = 0;
  return newEntityId(ID_PREFIX.policy, (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i += 32) createHash('sha256').update(`aws-managed-policy:${name}:${counter++}`).digest().copy(out, i);
    return out;
  });
}

const cache = new Map<string, ReadonlyMap<string, AwsManagedPolicy>>();

function build(data: AwsManagedPolicyData, partition: string): AwsManagedPolicy {
  let document = JSON.stringify(data.document, null, 4);
  if (partition !== 'aws') document = document.replaceAll('"arn:aws:', `"arn:${partition}:`);
  return {
    arn: `arn:${partition}:iam::${AWS_POLICY_OWNER}:policy${data.path}${data.name}`,
    policyName: data.name,
    policyId: stablePolicyId(data.name),
    path: data.path,
    description: data.description,
    createDate: data.createDate,
    updateDate: data.updateDate,
    versionId: data.versionId,
    document,
    policy: parsePolicyOrThrow(document, 'identity'),
  };
}

/** The AWS managed policies of a partition, by ARN. Built once per partition. */
export function awsManagedPolicies(partition: string): ReadonlyMap<string, AwsManagedPolicy> {
  let found = cache.get(partition);
  if (!found) {
    found = new Map(AWS_MANAGED_POLICIES.map((d) => build(d, partition)).map((p) => [p.arn, p]));
    cache.set(partition, found);
  }
  return found;
}
