import { describe, expect, it } from 'vitest';
import { IamdbError } from '../errors/index.js';
import { fixedClock } from '../util/index.js';
import { IamDirectory } from './directory.js';

const ACCT = '123456789012';
const DB = `arn:aws:rds-db:us-east-1:${ACCT}:dbuser:db-ABCDEFGHIJKL`;
const connect = (resource = `${DB}/*`): string =>
  JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: resource }] });
const trust = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'sts:AssumeRole' }],
});

function fresh(): IamDirectory {
  return new IamDirectory({ accountId: ACCT, clock: fixedClock(new Date('2026-11-23T09:00:00Z')) });
}

function thrown(fn: () => unknown): IamdbError {
  try {
    fn();
  } catch (err) {
    if (err instanceof IamdbError) return err;
    throw err;
  }
  throw new Error('expected an IamdbError');
}

/** A document of exactly `size` non-whitespace characters. */
function sized(size: number): string {
  const base = connect(`${DB}/`);
  const pad = size - base.replace(/\s/g, '').length;
  return connect(`${DB}/${'x'.repeat(pad)}`);
}

describe('IamDirectory', () => {
  it('creates users with AWS ids and ARNs, names unique case-insensitively', () => {
    const iam = fresh();
    const u = iam.createUser({ userName: 'alice', path: '/eng/' });
    expect(u.arn).toBe(`arn:aws:iam::${ACCT}:user/eng/alice`);
    expect(u.userId).toMatch(/^AIDA[A-Z0-9]{17}$/);
    expect(u.createDate).toBe('2026-11-23T09:00:00.000Z');
    const e = thrown(() => iam.createUser({ userName: 'ALICE' }));
    expect(e.code).toBe('IAM_ENTITY_ALREADY_EXISTS');
    expect(e.message).toBe('User with name ALICE already exists.');
    expect(iam.getUser('Alice').userName).toBe('alice');
    expect(thrown(() => iam.getUser('bob')).message).toBe('The user with name bob cannot be found.');
    expect(thrown(() => iam.createUser({ userName: 'bad name' })).code).toBe('IAM_INVALID_INPUT');
    expect(thrown(() => new IamDirectory({ accountId: '123' })).code).toBe('IAM_INVALID_INPUT');
  });

  it('issues access keys in AWS format, at most two per user', () => {
    const iam = fresh();
    iam.createUser({ userName: 'alice' });
    const k = iam.createAccessKey('alice');
    expect(k.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(k.secretAccessKey.reveal()).toMatch(/^[A-Za-z0-9/+]{40}$/);
    expect(String(k.secretAccessKey)).toBe('[REDACTED]');
    expect(JSON.stringify(iam.listAccessKeys('alice'))).not.toContain(k.secretAccessKey.reveal());
    iam.createAccessKey('alice', { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' });
    const e = thrown(() => iam.createAccessKey('alice'));
    expect(e.code).toBe('IAM_LIMIT_EXCEEDED');
    expect(e.message).toBe('Cannot exceed quota for AccessKeysPerUser: 2');

    const found = iam.findAccessKey('AKIAIOSFODNN7EXAMPLE');
    expect(found?.user.userName).toBe('alice');
    expect(found?.key.secretAccessKey.reveal()).toBe('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    expect(iam.checkAccessKeySecret('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe(true);
    iam.updateAccessKey('AKIAIOSFODNN7EXAMPLE', 'Inactive');
    expect(iam.findAccessKey('AKIAIOSFODNN7EXAMPLE')?.key.status).toBe('Inactive');
    expect(iam.checkAccessKeySecret('AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe(false);
    iam.deleteAccessKey('AKIAIOSFODNN7EXAMPLE');
    expect(iam.findAccessKey('AKIAIOSFODNN7EXAMPLE')).toBeUndefined();
    expect(thrown(() => iam.deleteAccessKey('AKIAIOSFODNN7EXAMPLE')).message).toBe(
      'The Access Key with id AKIAIOSFODNN7EXAMPLE cannot be found.',
    );
    const bad = thrown(() => iam.createAccessKey('alice', { accessKeyId: 'AKIAIOSFODNN7EXAMPL2', secretAccessKey: 'short-secret' }));
    expect(bad.code).toBe('IAM_INVALID_INPUT');
    expect(bad.message).not.toContain('short-secret');
  });

  it('enforces inline policy size limits with AWS texts (whitespace not counted)', () => {
    const iam = fresh();
    iam.createUser({ userName: 'alice' });
    iam.putUserPolicy('alice', 'a', sized(1000));
    iam.putUserPolicy('alice', 'b', sized(1048).replace(/,/g, ',\n    ')); // exactly 2048 in total
    const e = thrown(() => iam.putUserPolicy('alice', 'c', sized(200)));
    expect(e.kind).toBe('LimitExceeded');
    expect(e.message).toBe('Maximum policy size of 2048 bytes exceeded for user alice');
    iam.putUserPolicy('alice', 'A', sized(900)); // replacing a policy counts only the new text

    iam.createGroup({ groupName: 'devs' });
    expect(thrown(() => iam.putGroupPolicy('devs', 'g', sized(5121))).message).toBe('Maximum policy size of 5120 bytes exceeded for group devs');
    iam.putGroupPolicy('devs', 'g', sized(5120));

    iam.createRole({ roleName: 'app', assumeRolePolicyDocument: trust });
    expect(thrown(() => iam.putRolePolicy('app', 'r', sized(10241))).message).toBe('Maximum policy size of 10240 bytes exceeded for role app');
  });

  it('enforces managed policy and trust policy quotas', () => {
    const iam = fresh();
    expect(thrown(() => iam.createPolicy({ policyName: 'big', policyDocument: sized(6145) })).message).toBe('Cannot exceed quota for PolicySize: 6144');
    iam.createPolicy({ policyName: 'ok', policyDocument: sized(6144) });
    const bigTrust = JSON.stringify({
      Version: '2012-10-17',
      Statement: Array.from({ length: 30 }, () => ({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'sts:AssumeRole' })),
    });
    expect(thrown(() => iam.createRole({ roleName: 'r', assumeRolePolicyDocument: bigTrust })).message).toBe('Cannot exceed quota for ACLSizePerRole: 2048');
  });

  it('rejects malformed policies with every problem', () => {
    const iam = fresh();
    iam.createUser({ userName: 'alice' });
    const e = thrown(() =>
      iam.putUserPolicy('alice', 'p', JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'connect', Resource: '*', Principal: '*' }] })),
    );
    expect(e.code).toBe('IAM_MALFORMED_POLICY');
    expect(e.message).toBe('Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.');
    expect(e.details.problems).toBe(
      'Statement[0].Action: Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.\nStatement[0].Principal: Policy document should not specify a principal.',
    );
    const t = thrown(() =>
      iam.createRole({ roleName: 'r', assumeRolePolicyDocument: JSON.stringify({ Statement: { Effect: 'Allow', Action: 'sts:AssumeRole' } }) }),
    );
    expect(t.message).toBe('Missing required field Principal');
  });

  it('keeps up to five managed policy versions and a default', () => {
    const iam = fresh();
    const p = iam.createPolicy({ policyName: 'db', policyDocument: connect(), path: '/team/' });
    expect(p.arn).toBe(`arn:aws:iam::${ACCT}:policy/team/db`);
    expect(p.policyId).toMatch(/^ANPA[A-Z0-9]{17}$/);
    for (let i = 2; i <= 5; i++) iam.createPolicyVersion(p.arn, connect(`${DB}/u${i}`), i === 3);
    expect(iam.getPolicy(p.arn).defaultVersionId).toBe('v3');
    const e = thrown(() => iam.createPolicyVersion(p.arn, connect()));
    expect(e.code).toBe('IAM_POLICY_VERSION_LIMIT');
    expect(thrown(() => iam.deletePolicyVersion(p.arn, 'v3')).message).toBe('Cannot delete the default version of a policy.');
    iam.deletePolicyVersion(p.arn, 'v1');
    expect(iam.createPolicyVersion(p.arn, connect()).versionId).toBe('v6');
    expect(thrown(() => iam.createPolicy({ policyName: 'DB', policyDocument: connect() })).message).toBe(
      'A policy called DB already exists. Duplicate names are not allowed.',
    );
    expect(thrown(() => iam.getPolicy(`arn:aws:iam::${ACCT}:policy/nope`)).message).toBe(
      `Policy arn:aws:iam::${ACCT}:policy/nope does not exist or is not attachable.`,
    );
  });

  it('refuses deletes that AWS refuses', () => {
    const iam = fresh();
    iam.createUser({ userName: 'alice' });
    const p = iam.createPolicy({ policyName: 'db', policyDocument: connect() });
    iam.attachUserPolicy('alice', p.arn);
    expect(thrown(() => iam.deletePolicy(p.arn)).message).toBe('Cannot delete a policy attached to entities.');
    expect(thrown(() => iam.deleteUser('alice')).message).toBe('Cannot delete entity, must detach all policies first.');
    iam.detachUserPolicy('alice', p.arn);
    iam.createAccessKey('alice');
    expect(thrown(() => iam.deleteUser('alice')).message).toBe('Cannot delete entity, must delete access keys first.');
    iam.deleteAccessKey(iam.listAccessKeys('alice')[0]!.accessKeyId);
    iam.createGroup({ groupName: 'devs' });
    iam.addUserToGroup('devs', 'alice');
    expect(thrown(() => iam.deleteGroup('devs')).code).toBe('IAM_DELETE_CONFLICT');
    iam.removeUserFromGroup('devs', 'alice');
    iam.deleteGroup('devs');
    iam.deleteUser('alice');
    iam.deletePolicy(p.arn);
    expect(iam.listUsers()).toEqual([]);
  });

  it('collects identity policies from user, groups and attachments, plus the boundary', () => {
    const iam = fresh();
    iam.createUser({ userName: 'alice' });
    iam.createGroup({ groupName: 'devs' });
    iam.addUserToGroup('devs', 'alice');
    const managed = iam.createPolicy({ policyName: 'db', policyDocument: connect() });
    const boundary = iam.createPolicy({ policyName: 'ceiling', policyDocument: connect(`${DB}/alice`) });
    iam.putUserPolicy('alice', 'own', connect(`${DB}/own`));
    iam.putGroupPolicy('devs', 'shared', connect(`${DB}/shared`));
    iam.attachGroupPolicy('devs', managed.arn);
    iam.putUserPermissionsBoundary('alice', boundary.arn);
    const p = iam.policiesFor({ userName: 'alice' });
    expect(p.identity.map((x) => x.label)).toEqual(['user/alice/inline/own', 'group/devs/inline/shared', `${managed.arn}#v1`]);
    expect(p.boundary?.map((x) => x.label)).toEqual([`${boundary.arn}#v1`]);
    expect(iam.getPolicy(boundary.arn).permissionsBoundaryUsageCount).toBe(1);
  });

  it('round-trips through snapshot/fromState and reports changes', () => {
    const iam = fresh();
    const seen: string[] = [];
    const stop = iam.onChange((c) => seen.push(`${c.operation}#${c.changes}`));
    iam.createUser({ userName: 'alice', tags: { team: 'db' } });
    const key = iam.createAccessKey('alice');
    const p = iam.createPolicy({ policyName: 'db', policyDocument: connect() });
    iam.createPolicyVersion(p.arn, connect(`${DB}/x`), true);
    iam.attachUserPolicy('alice', p.arn);
    iam.createGroup({ groupName: 'devs' });
    iam.addUserToGroup('devs', 'alice');
    iam.createRole({ roleName: 'app', assumeRolePolicyDocument: trust, permissionsBoundary: p.arn, description: 'd' });
    stop();
    iam.putUserPolicy('alice', 'x', connect());
    expect(seen.slice(0, 2)).toEqual(['createUser#1', 'createAccessKey#2']);
    expect(seen).toHaveLength(8);
    expect(iam.changes).toBe(9);

    const state = iam.snapshot();
    const json = JSON.parse(JSON.stringify(state)) as unknown;
    expect(JSON.stringify(state)).toContain(key.secretAccessKey.reveal());
    const copy = IamDirectory.fromState(json);
    expect(copy.snapshot()).toEqual(state);
    expect(copy.findAccessKey(key.accessKeyId)?.key.secretAccessKey.reveal()).toBe(key.secretAccessKey.reveal());
    expect(copy.getPolicy(p.arn).defaultVersionId).toBe('v2');
    expect(copy.changes).toBe(0);

    const dangling = JSON.parse(JSON.stringify(state)) as { users: { attachedPolicies: string[] }[] };
    dangling.users[0]!.attachedPolicies.push(`arn:aws:iam::${ACCT}:policy/gone`);
    expect(thrown(() => IamDirectory.fromState(dangling)).code).toBe('IAM_NO_SUCH_POLICY');

    const broken = { ...(json as Record<string, unknown>), users: 'nope' };
    expect(thrown(() => IamDirectory.fromState(broken)).code).toBe('IAM_INVALID_INPUT');
  });
});
