import { describe, expect, it } from 'vitest';
import { ContextLookup } from './context.js';
import { missingContextKeys } from './context-keys.js';
import { parsePolicyOrThrow } from './policy/parse.js';

const policy = (doc: object) => ({ label: 'p', policy: parsePolicyOrThrow(JSON.stringify(doc), 'identity') });

describe('missingContextKeys', () => {
  const p = policy({
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: 'arn:aws:s3:::bucket/${aws:username}/*',
        Condition: { IpAddress: { 'aws:SourceIp': '203.0.113.0/24' }, StringEquals: { 's3:prefix': ['${aws:PrincipalTag/team}', "${aws:userid, 'none'}"] } },
      },
      { Effect: 'Deny', Action: 'iam:*', Resource: '*', Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'false' } } },
    ],
  });

  it('lists the condition keys and default-less variables of the statements that cover the action, once each, in order', () => {
    expect(missingContextKeys([p], 's3:GetObject', new ContextLookup({}))).toEqual(['aws:username', 'aws:SourceIp', 's3:prefix', 'aws:PrincipalTag/team']);
    expect(missingContextKeys([p], 'iam:GetUser', new ContextLookup({}))).toEqual(['aws:MultiFactorAuthPresent']);
    expect(missingContextKeys([p], 'rds:DescribeDBInstances', new ContextLookup({}))).toEqual([]);
  });

  it('leaves out keys the context has, whatever their case', () => {
    expect(missingContextKeys([p], 's3:GetObject', new ContextLookup({ 'AWS:UserName': 'alice', 'aws:sourceip': '203.0.113.9' }))).toEqual(['s3:prefix', 'aws:PrincipalTag/team']);
  });

  it('does not read variables in 2008-10-17 documents, where they are plain text', () => {
    const old = policy({ Version: '2008-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws:s3:::b/${aws:username}' }] });
    expect(missingContextKeys([old], 's3:GetObject', new ContextLookup({}))).toEqual([]);
  });

  it('covers NotAction statements for the actions they leave out', () => {
    const na = policy({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', NotAction: 'iam:*', Resource: '*', Condition: { StringEquals: { 'aws:RequestedRegion': 'us-east-1' } } }] });
    expect(missingContextKeys([na], 'rds:DescribeDBInstances', new ContextLookup({}))).toEqual(['aws:RequestedRegion']);
    expect(missingContextKeys([na], 'iam:GetUser', new ContextLookup({}))).toEqual([]);
  });
});
