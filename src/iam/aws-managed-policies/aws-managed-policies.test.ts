import { describe, expect, it } from 'vitest';
import { IamdbError } from '../../errors/index.js';
import { IamDirectory } from '../directory.js';
import { evaluate } from '../evaluate.js';
import { AWS_MANAGED_POLICIES, awsManagedPolicies, isAwsManagedPolicyArn } from './index.js';

const ACCT = '123456789012';
const arn = (name: string, partition = 'aws'): string => `arn:${partition}:iam::aws:policy/${name}`;

describe('AWS managed policies', () => {
  it('ships the policies database work attaches, each a valid identity policy', () => {
    const names = AWS_MANAGED_POLICIES.map((p) => p.name);
    for (const n of ['AdministratorAccess', 'PowerUserAccess', 'ReadOnlyAccess', 'IAMFullAccess', 'IAMReadOnlyAccess', 'AmazonRDSFullAccess', 'AmazonRDSReadOnlyAccess', 'AmazonRDSDataFullAccess', 'SecretsManagerReadWrite', 'AWSKeyManagementServicePowerUser']) {
      expect(names).toContain(n);
    }
    for (const p of awsManagedPolicies('aws').values()) {
      expect(p.policyId).toMatch(/^ANPA[A-Z0-9]{17}$/);
      expect(p.versionId).toMatch(/^v\d+$/);
      expect(p.policy.statements.length).toBeGreaterThan(0);
    }
  });

  it('gives each policy the same id in every directory, and different ids to different policies', () => {
    const a = awsManagedPolicies('aws');
    const ids = [...a.values()].map((p) => p.policyId);
    expect(new Set(ids).size).toBe(ids.length);
    const d1 = new IamDirectory({ accountId: ACCT });
    const d2 = new IamDirectory({ accountId: '210987654321' });
    expect(d1.getPolicy(arn('AdministratorAccess')).policyId).toBe(d2.getPolicy(arn('AdministratorAccess')).policyId);
  });

  it('follows the partition in the ARN and in the documents', () => {
    const cn = new IamDirectory({ accountId: ACCT, partition: 'aws-cn' });
    const p = cn.getPolicy(arn('AmazonRDSDataFullAccess', 'aws-cn'));
    expect(p.arn).toBe('arn:aws-cn:iam::aws:policy/AmazonRDSDataFullAccess');
    expect(cn.getPolicyVersion(p.arn, p.defaultVersionId).document).toContain('"arn:aws-cn:secretsmanager:*:*:secret:rds-db-credentials/*"');
    expect(() => cn.getPolicy(arn('AmazonRDSDataFullAccess'))).toThrow(IamdbError);
  });

  it('recognises AWS managed policy ARNs', () => {
    expect(isAwsManagedPolicyArn(arn('ReadOnlyAccess'))).toBe(true);
    expect(isAwsManagedPolicyArn('arn:aws:iam::aws:policy/job-function/DatabaseAdministrator')).toBe(true);
    expect(isAwsManagedPolicyArn(`arn:aws:iam::${ACCT}:policy/ReadOnlyAccess`)).toBe(false);
  });
});

describe('AWS managed policies in the directory', () => {
  it('attach, count, list by scope, and survive a snapshot round trip without entering the state', () => {
    const dir = new IamDirectory({ accountId: ACCT });
    dir.createUser({ userName: 'alice' });
    dir.createRole({ roleName: 'ops', assumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ACCT }, Action: 'sts:AssumeRole' }] }) });
    dir.createPolicy({ policyName: 'mine', policyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds:Describe*', Resource: '*' }] }) });
    dir.attachUserPolicy('alice', arn('AmazonRDSReadOnlyAccess'));
    dir.attachRolePolicy('ops', arn('AmazonRDSReadOnlyAccess'));
    dir.putRolePermissionsBoundary('ops', arn('PowerUserAccess'));
    const p = dir.getPolicy(arn('AmazonRDSReadOnlyAccess'));
    expect(p).toMatchObject({ attachmentCount: 2, awsManaged: true, path: '/', policyName: 'AmazonRDSReadOnlyAccess' });
    expect(dir.getPolicy(arn('PowerUserAccess')).permissionsBoundaryUsageCount).toBe(1);
    expect(dir.listPolicies('Local').map((x) => x.policyName)).toEqual(['mine']);
    expect(dir.listPolicies('AWS').every((x) => x.awsManaged)).toBe(true);
    expect(dir.listPolicies('All').length).toBe(dir.listPolicies('AWS').length + 1);

    const state = dir.snapshot();
    expect(state.policies.map((x) => x.policyName)).toEqual(['mine']);
    const back = IamDirectory.fromState(JSON.parse(JSON.stringify(state)));
    expect(back.listAttachedUserPolicies('alice')).toEqual([arn('AmazonRDSReadOnlyAccess')]);
    expect(back.getRole('ops').permissionsBoundary).toBe(arn('PowerUserAccess'));
  });

  it('refuses every change to an AWS managed policy', () => {
    const dir = new IamDirectory({ accountId: ACCT });
    const a = arn('IAMReadOnlyAccess');
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
        return undefined;
      } catch (e) {
        return (e as IamdbError).code;
      }
    };
    expect(code(() => dir.createPolicyVersion(a, doc, true))).toBe('IAM_AWS_MANAGED_POLICY');
    expect(code(() => dir.setDefaultPolicyVersion(a, 'v4'))).toBe('IAM_AWS_MANAGED_POLICY');
    expect(code(() => dir.deletePolicyVersion(a, 'v4'))).toBe('IAM_AWS_MANAGED_POLICY');
    expect(code(() => dir.deletePolicy(a))).toBe('IAM_AWS_MANAGED_POLICY');
    expect(dir.listPolicyVersions(a).map((v) => v.versionId)).toEqual(['v4']);
  });

  it('evaluates attached AWS managed policies: AmazonRDSReadOnlyAccess reads, never writes', () => {
    const dir = new IamDirectory({ accountId: ACCT });
    const u = dir.createUser({ userName: 'bob' });
    dir.attachUserPolicy('bob', arn('AmazonRDSReadOnlyAccess'));
    const principal = { arn: u.arn, accountId: ACCT, type: 'user' as const, userName: 'bob' };
    const decide = (action: string): string => evaluate({ request: { principal, action, resource: `arn:aws:rds:us-east-1:${ACCT}:db:orders` }, identity: dir.policiesFor({ userName: 'bob' }).identity }).decision;
    expect(decide('rds:DescribeDBInstances')).toBe('allowed');
    expect(decide('rds:ModifyDBInstance')).toBe('implicitDeny');
  });

  it('evaluates ReadOnlyAccess, larger than any customer managed policy may be: describes, never modifies', () => {
    const dir = new IamDirectory({ accountId: ACCT });
    const u = dir.createUser({ userName: 'dora' });
    dir.attachUserPolicy('dora', arn('ReadOnlyAccess'));
    const p = dir.getPolicy(arn('ReadOnlyAccess'));
    expect(p).toMatchObject({ awsManaged: true, path: '/', defaultVersionId: 'v188', attachmentCount: 1 });
    expect(dir.getPolicyVersion(p.arn, 'v188').document.length).toBeGreaterThan(100_000);
    const principal = { arn: u.arn, accountId: ACCT, type: 'user' as const, userName: 'dora' };
    const identity = dir.policiesFor({ userName: 'dora' }).identity;
    const decide = (action: string, resource = `arn:aws:rds:us-east-1:${ACCT}:db:orders`, context = {}): string =>
      evaluate({ request: { principal, action, resource, context }, identity }).decision;
    expect(decide('rds:DescribeDBInstances')).toBe('allowed');
    expect(decide('rds:ModifyDBInstance')).toBe('implicitDeny');
    expect(decide('rds-db:connect', `arn:aws:rds-db:us-east-1:${ACCT}:dbuser:db-ABC/app`)).toBe('implicitDeny');
    expect(decide('iam:GetUser', u.arn)).toBe('allowed');
    expect(decide('iam:CreateAccessKey', u.arn)).toBe('implicitDeny');
    const session = `arn:aws:s3express:us-east-1:${ACCT}:bucket/b--use1-az4--x-s3`;
    expect(decide('s3express:CreateSession', session, { 's3express:SessionMode': 'ReadOnly' })).toBe('allowed');
    expect(decide('s3express:CreateSession', session, { 's3express:SessionMode': 'ReadWrite' })).toBe('implicitDeny');
  });

  it('lets identity policies alone read resources owned by aws (GetPolicy on an AWS managed policy)', () => {
    const principal = { arn: `arn:aws:iam::${ACCT}:user/carol`, accountId: ACCT, type: 'user' as const, userName: 'carol' };
    const dir = new IamDirectory({ accountId: ACCT });
    dir.createUser({ userName: 'carol' });
    dir.attachUserPolicy('carol', arn('IAMReadOnlyAccess'));
    const a = evaluate({ request: { principal, action: 'iam:GetPolicy', resource: arn('AdministratorAccess') }, identity: dir.policiesFor({ userName: 'carol' }).identity });
    expect(a.decision).toBe('allowed');
    const other = evaluate({ request: { principal, action: 'iam:GetPolicy', resource: 'arn:aws:iam::999999999999:policy/theirs' }, identity: dir.policiesFor({ userName: 'carol' }).identity });
    expect(other.decision).toBe('implicitDeny');
  });
});
