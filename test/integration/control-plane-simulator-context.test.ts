/**
 * The policy simulator's context, through the AWS SDK v3: ContextEntries are
 * the values a simulation uses (AWS's SimulateCustomPolicy reference), also
 * for principal keys such as aws:username and aws:PrincipalArn, with or
 * without a CallerArn; MissingContextValues names the keys a policy needed
 * and nobody supplied (in the result when no ResourceArns are given, in
 * ResourceSpecificResults when they are); MatchedStatements carry the
 * statement's StartPosition / EndPosition in the policy text as sent.
 */
import { IAMClient, SimulateCustomPolicyCommand, SimulatePrincipalPolicyCommand, CreateUserCommand, PutUserPolicyCommand, type ContextEntry } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
let iam: IAMClient;
beforeAll(async () => {
  iamdb = await startIamdb({ api: { listen: 'auto' } });
  iam = new IAMClient({ endpoint: iamdb.apiUrl, region: REGION, credentials: { accessKeyId: iamdb.admin.id, secretAccessKey: iamdb.admin.secret }, maxAttempts: 1 });
});
afterAll(() => iamdb.stop());

const entry = (name: string, value: string, type: ContextEntry['ContextKeyType'] = 'string'): ContextEntry => ({ ContextKeyName: name, ContextKeyType: type, ContextKeyValues: [value] });

const homeFolder = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::home/${aws:username}/*' }],
});
const roleOnly = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: 'rds:DescribeDBInstances', Resource: '*', Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/db-*` } } }],
});

async function decide(input: { PolicyInputList: string[]; ActionNames: string[]; ResourceArns?: string[]; ContextEntries?: ContextEntry[]; CallerArn?: string }) {
  const out = await iam.send(new SimulateCustomPolicyCommand(input));
  return out.EvaluationResults!;
}

describe('ContextEntries are the values the simulation uses', () => {
  it('${aws:username} expands from a context entry when no caller is given', async () => {
    const [r] = await decide({ PolicyInputList: [homeFolder], ActionNames: ['s3:GetObject'], ResourceArns: ['arn:aws:s3:::home/alice/notes.txt'], ContextEntries: [entry('aws:username', 'alice')] });
    expect(r!.EvalDecision).toBe('allowed');
    const [other] = await decide({ PolicyInputList: [homeFolder], ActionNames: ['s3:GetObject'], ResourceArns: ['arn:aws:s3:::home/bob/notes.txt'], ContextEntries: [entry('aws:username', 'alice')] });
    expect(other!.EvalDecision).toBe('implicitDeny');
  });

  it('an entry wins over the value the CallerArn would give', async () => {
    const [r] = await decide({
      PolicyInputList: [homeFolder],
      ActionNames: ['s3:GetObject'],
      ResourceArns: ['arn:aws:s3:::home/carol/x'],
      CallerArn: `arn:aws:iam::${ACCOUNT}:user/alice`,
      ContextEntries: [entry('aws:username', 'carol')],
    });
    expect(r!.EvalDecision).toBe('allowed');
  });

  it('ArnLike on aws:PrincipalArn matches the entry given', async () => {
    const [yes] = await decide({ PolicyInputList: [roleOnly], ActionNames: ['rds:DescribeDBInstances'], ContextEntries: [entry('aws:PrincipalArn', `arn:aws:iam::${ACCOUNT}:role/db-reader`, 'string')] });
    expect(yes!.EvalDecision).toBe('allowed');
    const [no] = await decide({ PolicyInputList: [roleOnly], ActionNames: ['rds:DescribeDBInstances'], ContextEntries: [entry('aws:PrincipalArn', `arn:aws:iam::${ACCOUNT}:role/web`)] });
    expect(no!.EvalDecision).toBe('implicitDeny');
  });

  it('SimulatePrincipalPolicy takes entries over the principal it simulates too', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'ctx-dave' }));
    await iam.send(new PutUserPolicyCommand({ UserName: 'ctx-dave', PolicyName: 'home', PolicyDocument: homeFolder }));
    const source = { PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/ctx-dave`, ActionNames: ['s3:GetObject'] };
    const own = await iam.send(new SimulatePrincipalPolicyCommand({ ...source, ResourceArns: ['arn:aws:s3:::home/ctx-dave/a'] }));
    expect(own.EvaluationResults![0]!.EvalDecision).toBe('allowed');
    const given = await iam.send(new SimulatePrincipalPolicyCommand({ ...source, ResourceArns: ['arn:aws:s3:::home/erin/a'], ContextEntries: [entry('aws:username', 'erin')] }));
    expect(given.EvaluationResults![0]!.EvalDecision).toBe('allowed');
  });
});

describe('MissingContextValues', () => {
  it('names the keys the policy needed and nobody supplied: in the result without ResourceArns', async () => {
    const [r] = await decide({ PolicyInputList: [roleOnly], ActionNames: ['rds:DescribeDBInstances'] });
    expect(r!.EvalDecision).toBe('implicitDeny');
    expect(r!.MissingContextValues).toEqual(['aws:PrincipalArn']);
    const [given] = await decide({ PolicyInputList: [roleOnly], ActionNames: ['rds:DescribeDBInstances'], ContextEntries: [entry('aws:PrincipalArn', `arn:aws:iam::${ACCOUNT}:role/web`)] });
    expect(given!.MissingContextValues ?? []).toEqual([]);
  });

  it('and per resource in ResourceSpecificResults when ResourceArns are given', async () => {
    const [r] = await decide({ PolicyInputList: [homeFolder], ActionNames: ['s3:GetObject'], ResourceArns: ['arn:aws:s3:::home/alice/x'] });
    expect(r!.EvalDecision).toBe('implicitDeny');
    expect(r!.MissingContextValues ?? []).toEqual([]);
    expect(r!.ResourceSpecificResults).toEqual([expect.objectContaining({ EvalResourceName: 'arn:aws:s3:::home/alice/x', EvalResourceDecision: 'implicitDeny', MissingContextValues: ['aws:username'] })]);
  });

  it('with a CallerArn, the keys derived from the caller are not missing', async () => {
    const [r] = await decide({ PolicyInputList: [homeFolder], ActionNames: ['s3:GetObject'], CallerArn: `arn:aws:iam::${ACCOUNT}:user/alice` });
    expect(r!.MissingContextValues ?? []).toEqual([]);
  });
});

describe('MatchedStatements positions', () => {
  it('give the line and column of the matched statement in the text as sent', async () => {
    const text = [
      '{',
      '  "Version": "2012-10-17",',
      '  "Statement": [',
      '    { "Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*" },',
      '    {',
      '      "Effect": "Allow",',
      '      "Action": "s3:GetObject",',
      '      "Resource": "*"',
      '    }',
      '  ]',
      '}',
    ].join('\n');
    const [r] = await decide({ PolicyInputList: [text], ActionNames: ['s3:GetObject'] });
    expect(r!.MatchedStatements).toEqual([
      { SourcePolicyId: 'PolicyInputList.1', SourcePolicyType: 'none', StartPosition: { Line: 5, Column: 5 }, EndPosition: { Line: 9, Column: 5 } },
    ]);
  });

  it('point into the stored document for the principal’s own policies', async () => {
    const doc = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}';
    await iam.send(new CreateUserCommand({ UserName: 'ctx-frank' }));
    await iam.send(new PutUserPolicyCommand({ UserName: 'ctx-frank', PolicyName: 'no-s3', PolicyDocument: doc }));
    const out = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/ctx-frank`, ActionNames: ['s3:GetObject'] }));
    expect(out.EvaluationResults![0]).toMatchObject({
      EvalDecision: 'explicitDeny',
      // The statement object runs from its brace after `[` to the brace before `]`.
      MatchedStatements: [{ SourcePolicyId: 'no-s3', SourcePolicyType: 'user', StartPosition: { Line: 1, Column: doc.indexOf('[{') + 2 }, EndPosition: { Line: 1, Column: doc.lastIndexOf('}]') + 1 } }],
    });
  });
});
