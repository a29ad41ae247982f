import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evaluate, type PolicyInput } from './evaluate.js';
import { actionListMatches, compileGlob, globMatch, matchPattern, type MatchCounter } from './match.js';
import { parsePolicyOrThrow } from './policy/parse.js';
import type { Policy } from './policy/types.js';
import type { AuthorizationRequest } from './request.js';

const DB = 'arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC';
const request: AuthorizationRequest = {
  principal: { arn: 'arn:aws:iam::123456789012:user/alice', accountId: '123456789012', type: 'user', userName: 'alice' },
  action: 'rds-db:connect',
  resource: `${DB}/alice`,
  context: { 'aws:SourceIp': '10.1.2.3' },
};

describe('evaluation', () => {
  it('never depends on statement or policy order', () => {
    const statement = fc.record({
      Effect: fc.constantFrom('Allow', 'Deny'),
      Action: fc.constantFrom('rds-db:connect', 'rds-db:*', 's3:*', '*', 'RDS-DB:Conn?ct'),
      Resource: fc.constantFrom('*', `${DB}/alice`, `${DB}/bob`, `${DB}/*`),
      Condition: fc.constantFrom(undefined, { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } }, { StringEquals: { 'aws:username': 'bob' } }),
    });
    fc.assert(
      fc.property(fc.array(statement, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 2 ** 31 }), (stmts, seed) => {
        const clean = stmts.map((s) => (s.Condition ? s : { Effect: s.Effect, Action: s.Action, Resource: s.Resource }));
        const shuffled = shuffle(clean, seed);
        const one = (docs: object[]): PolicyInput[] =>
          docs.map((d, i) => ({ label: `p${i}`, policy: parsePolicyOrThrow({ Version: '2012-10-17', Statement: [d] }, 'identity') }));
        const a = evaluate({ request, identity: [{ label: 'all', policy: parsePolicyOrThrow({ Version: '2012-10-17', Statement: clean }, 'identity') }] });
        const b = evaluate({ request, identity: [{ label: 'all', policy: parsePolicyOrThrow({ Version: '2012-10-17', Statement: shuffled }, 'identity') }] });
        const c = evaluate({ request, identity: one(shuffled) });
        expect(b.decision).toBe(a.decision);
        expect(c.decision).toBe(a.decision);
        expect(b.deniedBy).toBe(a.deniedBy);
      }),
      { numRuns: 300 },
    );
  });

  it('fails closed on an unknown condition operator that slipped past validation', () => {
    const policy: Policy = {
      kind: 'identity',
      version: '2012-10-17',
      statements: [
        { index: 0, effect: 'Allow', action: ['*'], resource: ['*'], conditions: [{ operator: 'StringEqualz', key: 'aws:username', values: ['alice'] }] },
      ],
    };
    const a = evaluate({ request, identity: [{ label: 'forged', policy }] });
    expect(a.decision).toBe('implicitDeny');
    expect(a.notes.join('\n')).toMatch(/unknown condition operator StringEqualz: fails closed/);

    const deny: Policy = {
      kind: 'identity',
      statements: [
        { index: 0, effect: 'Allow', action: ['*'], resource: ['*'], conditions: [] },
        { index: 1, effect: 'Deny', action: ['*'], resource: ['*'], conditions: [{ operator: 'NoSuchOp', key: 'aws:username', values: ['x'] }] },
      ],
    };
    expect(evaluate({ request, identity: [{ label: 'forged', policy: deny }] }).decision).toBe('explicitDeny');
  });
});

describe('wildcard matcher', () => {
  it('handles * and ? and literal regex characters', () => {
    expect(globMatch('a*b?c', 'aXXbYc')).toBe(true);
    expect(globMatch('a*b?c', 'abc')).toBe(false);
    expect(globMatch('*', '')).toBe(true);
    expect(globMatch('**', 'x')).toBe(true);
    expect(globMatch('a.c', 'abc')).toBe(false);
    expect(globMatch('(a|b)+', '(a|b)+')).toBe(true);
    expect(globMatch('*abab*', 'aabaabab')).toBe(true);
    expect(globMatch('A*', 'abc', true)).toBe(true);
    expect(globMatch('A*', 'abc')).toBe(false);
  });

  it('agrees with a reference matcher on random inputs', () => {
    const ref = (p: string, s: string): boolean => {
      // Dynamic programming reference: obviously correct, slow.
      const dp: boolean[][] = Array.from({ length: p.length + 1 }, () => Array<boolean>(s.length + 1).fill(false));
      dp[0]![0] = true;
      for (let i = 1; i <= p.length; i++) {
        for (let j = 0; j <= s.length; j++) {
          const c = p[i - 1];
          if (c === '*') dp[i]![j] = dp[i - 1]![j]! || (j > 0 && dp[i]![j - 1]!);
          else dp[i]![j] = j > 0 && dp[i - 1]![j - 1]! && (c === '?' || c === s[j - 1]);
        }
      }
      return dp[p.length]![s.length]!;
    };
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '*', '?'), maxLength: 8 }), fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 10 }), (p, s) => {
        expect(globMatch(p, s)).toBe(ref(p, s));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches Action lists filed by service as trying every pattern would', () => {
    expect(actionListMatches(['rds:Describe*', 'iam:Get*'], 'RDS:describedbinstances')).toBe(true);
    expect(actionListMatches(['rds:Describe*'], 'rds-db:connect')).toBe(false);
    expect(actionListMatches(['rds*:Describe*'], 'rds-data:DescribeX')).toBe(true);
    expect(actionListMatches(['?ds:*'], 'rds:ModifyDBInstance')).toBe(true);
    expect(actionListMatches(['*'], 'anything')).toBe(true);
    expect(actionListMatches(['rds:*'], 'rds')).toBe(false);
    const unit = fc.constantFrom('a', 'B', ':', '*', '?');
    fc.assert(
      fc.property(fc.array(fc.string({ unit, maxLength: 6 }), { maxLength: 5 }), fc.string({ unit: fc.constantFrom('A', 'b', ':'), maxLength: 7 }), (patterns, action) => {
        expect(actionListMatches(patterns, action)).toBe(patterns.some((p) => globMatch(p, action, true)));
      }),
      { numRuns: 3000 },
    );
  });

  it('stays linear on a 10 KB adversarial pattern and input (no ReDoS)', () => {
    const pattern = `${'a*'.repeat(5000)}b`; // 10 KB, the classic catastrophic-backtracking shape
    const input = 'a'.repeat(10_240);
    const counter: MatchCounter = { ops: 0 };
    expect(matchPattern(compileGlob(pattern), input, counter)).toBe(false);
    // Each input character is looked at a bounded number of times.
    expect(counter.ops).toBeLessThan(5 * (pattern.length + input.length));

    const middle = `*${'a*'.repeat(5000)}b*`; // every segment is searched, none pinned
    const c3: MatchCounter = { ops: 0 };
    expect(matchPattern(compileGlob(middle), input, c3)).toBe(false);
    expect(c3.ops).toBeLessThan(5 * (middle.length + input.length));

    const literal = `*${'ab'.repeat(2500)}c*`;
    const text = 'ab'.repeat(5120);
    const c2: MatchCounter = { ops: 0 };
    expect(matchPattern(compileGlob(literal), text, c2)).toBe(false);
    expect(c2.ops).toBeLessThan(5 * (literal.length + text.length));
  });

  it('evaluates a 10 KB wildcard Resource in an actual policy', () => {
    const policy = parsePolicyOrThrow({ Statement: { Effect: 'Allow', Action: 'rds-db:*', Resource: `arn:aws:rds-db:*:*:dbuser:${'*a'.repeat(5000)}` } }, 'identity');
    const a = evaluate({ request: { ...request, resource: `${DB}/${'a'.repeat(10_000)}x` }, identity: [{ label: 'big', policy }] });
    expect(a.decision).toBe('implicitDeny');
  });
});

function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
