import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../../errors/index.js';
import { parsePolicy, parsePolicyOrThrow, policySize } from './parse.js';
import type { PolicyKind } from './types.js';

const ok = { Effect: 'Allow', Action: 'rds-db:connect', Resource: '*' };

function problems(doc: unknown, kind: PolicyKind = 'identity'): { path: string; message: string }[] {
  const r = parsePolicy(typeof doc === 'string' ? doc : JSON.stringify(doc), kind);
  return r.ok ? [] : [...r.problems];
}

describe('policy validation', () => {
  it('accepts a minimal identity policy, with or without Version', () => {
    expect(problems({ Version: '2012-10-17', Statement: [ok] })).toEqual([]);
    expect(problems({ Version: '2008-10-17', Statement: ok })).toEqual([]);
    expect(problems({ Statement: ok })).toEqual([]);
  });

  it('reports broken JSON as a syntax error', () => {
    expect(problems('{"Statement": [')).toEqual([{ path: '', message: 'Syntax errors in policy.' }]);
  });

  it('rejects characters outside TAB, LF, CR and U+0020-U+00FF', () => {
    const doc = JSON.stringify({ Statement: { ...ok, Sid: 'x' } }).replace('"x"', '"\u0100"');
    expect(problems(doc)[0]?.message).toMatch(/regular expression pattern/);
    expect(problems(JSON.stringify({ Statement: ok }).replace('{', '{\u0001'))).toHaveLength(1);
  });

  it('rejects an unknown Version', () => {
    expect(problems({ Version: '2012-10-18', Statement: ok })).toEqual([{ path: 'Version', message: 'Invalid Version' }]);
  });

  it('reports missing actions and resources with the statement path', () => {
    expect(problems({ Statement: [ok, { Effect: 'Allow', Resource: '*' }] })).toEqual([
      { path: 'Statement[1]', message: 'Policy statement must contain actions.' },
    ]);
    expect(problems({ Statement: [{ Effect: 'Allow', Action: 's3:*' }] })).toEqual([
      { path: 'Statement[0]', message: 'Policy statement must contain resources.' },
    ]);
  });

  it('requires a vendor prefix on actions and condition keys, with the element path', () => {
    expect(problems({ Statement: [ok, { ...ok, Action: ['rds-db:connect', 'connect'] }] })).toEqual([
      { path: 'Statement[1].Action[1]', message: 'Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.' },
    ]);
    expect(problems({ Statement: { ...ok, Condition: { StringEquals: { username: 'a' } } } })).toEqual([
      { path: 'Statement.Condition.StringEquals.username', message: 'Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.' },
    ]);
    expect(problems({ Statement: [ok, { ...ok, Action: 'connect' }] })).toEqual([
      { path: 'Statement[1].Action', message: 'Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.' },
    ]);
    expect(problems({ Statement: { ...ok, Action: 'a:b:c' } })).toEqual([
      { path: 'Statement.Action', message: 'Actions/Condition can contain only one colon.' },
    ]);
  });

  it('rejects a principal in identity, boundary and session policies', () => {
    for (const kind of ['identity', 'boundary', 'session'] as const) {
      expect(problems({ Statement: [{ ...ok, Principal: '*' }] }, kind)).toEqual([
        { path: 'Statement[0].Principal', message: 'Policy document should not specify a principal.' },
      ]);
    }
  });

  it('requires a principal in trust and resource policies, where Resource is optional', () => {
    const trust = { Effect: 'Allow', Action: 'sts:AssumeRole' };
    expect(problems({ Statement: [trust] }, 'trust')).toEqual([{ path: 'Statement[0]', message: 'Missing required field Principal' }]);
    expect(problems({ Statement: [{ ...trust, Principal: { Service: 'rds.amazonaws.com' } }] }, 'trust')).toEqual([]);
    expect(problems({ Statement: [{ ...trust, Principal: { AWS: ['123456789012', 'arn:aws:iam::123456789012:root', '*'] } }] }, 'trust')).toEqual([]);
  });

  it('rejects malformed principals with AWS text', () => {
    expect(problems({ Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: ['123', 'bob', 'arn:aws:iam::*:root'] } }] }, 'trust')).toEqual([
      { path: 'Statement[0].Principal.AWS[0]', message: 'Invalid principal in policy: "AWS":"123"' },
      { path: 'Statement[0].Principal.AWS[1]', message: 'Invalid principal in policy: "AWS":"bob"' },
      { path: 'Statement[0].Principal.AWS[2]', message: 'Invalid principal in policy: "AWS":"arn:aws:iam::*:root"' },
    ]);
    expect(problems({ Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Bogus: 'x' } }] }, 'trust')).toEqual([
      { path: 'Statement[0].Principal.Bogus', message: 'Syntax errors in policy.' },
    ]);
  });

  it('requires unique Sids', () => {
    expect(problems({ Statement: [{ ...ok, Sid: 'A' }, { ...ok, Sid: 'B' }, { ...ok, Sid: 'A' }] })).toEqual([
      { path: 'Statement[2].Sid', message: 'Statement IDs (SID) in a single policy must be unique.' },
    ]);
  });

  it('rejects unknown condition operators, Null values and bad Effects', () => {
    expect(
      problems({
        Statement: [
          { ...ok, Condition: { StringEqualz: { 'aws:username': 'a' }, 'ForAnyValue:Null': { 'aws:x': 'true' } } },
          { ...ok, Effect: 'Permit', Condition: { Null: { 'aws:x': 'maybe' } } },
        ],
      }),
    ).toEqual([
      { path: 'Statement[0].Condition.StringEqualz', message: 'Invalid Condition operator: StringEqualz' },
      { path: 'Statement[0].Condition.ForAnyValue:Null', message: 'Invalid Condition operator: ForAnyValue:Null' },
      { path: 'Statement[1].Effect', message: 'Invalid effect: Permit' },
      { path: 'Statement[1].Condition.Null.aws:x', message: 'Null condition value must be true or false, got maybe' },
    ]);
  });

  it('rejects non-ARN resources', () => {
    expect(problems({ Statement: { ...ok, Resource: ['*', 'bucket'] } })).toEqual([
      { path: 'Statement.Resource[1]', message: 'Resource bucket must be in ARN format or "*".' },
    ]);
  });

  it('flags wrong types and unknown fields as syntax errors and keeps going', () => {
    expect(problems({ Statement: [{ ...ok, Action: { a: 1 } }, 'x', { ...ok, Extra: 1 }], Other: 1 })).toEqual([
      { path: 'Other', message: 'Syntax errors in policy.' },
      { path: 'Statement[0].Action', message: 'Syntax errors in policy.' },
      { path: 'Statement[1]', message: 'Syntax errors in policy.' },
      { path: 'Statement[2].Extra', message: 'Syntax errors in policy.' },
    ]);
  });

  it('throws IAM_MALFORMED_POLICY listing every problem', () => {
    try {
      parsePolicyOrThrow({ Statement: [{ Effect: 'Allow' }] }, 'identity');
      expect.fail('should throw');
    } catch (err) {
      expect(isIamdbError(err, 'IAM_MALFORMED_POLICY')).toBe(true);
      const e = err as Error & { details: Record<string, unknown> };
      expect(e.message).toBe('Policy statement must contain actions.');
      expect(e.details.problems).toBe(
        'Statement[0]: Policy statement must contain actions.\nStatement[0]: Policy statement must contain resources.',
      );
    }
  });

  it('counts size without whitespace', () => {
    expect(policySize('{ "a" :\n\t"b c" }\r\n')).toBe(10);
  });

  it('treats __proto__ keys as plain unknown fields', () => {
    expect(problems('{"__proto__": {"x": 1}, "Statement": {"Effect":"Allow","Action":"s3:*","Resource":"*"}}')).toEqual([
      { path: '__proto__', message: 'Syntax errors in policy.' },
    ]);
  });
});
