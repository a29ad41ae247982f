/**
 * The policy simulator against the evaluator's case table (src/iam/cases):
 * every case whose policies the simulator's API can carry is sent through
 * SimulateCustomPolicy with the SDK v3 IAM client, as PolicyInputList,
 * PermissionsBoundaryPolicyInputList, ResourcePolicy, ContextEntries and
 * CallerArn, and must come back with the decision the table gives. Session
 * policies and non-user callers have no simulator parameter in AWS's API; those
 * cases are counted here and checked by the evaluator table and, for session
 * policies, by the gateway walkthrough.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IAMClient, SimulateCustomPolicyCommand, type ContextEntry } from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

interface Case {
  name: string;
  policies?: Record<string, object[]>;
  principal?: { arn: string; type: string; userId?: string };
  request: { action: string; resource: string; context?: Record<string, unknown> };
  options?: object;
  expected: { decision: string };
}

const dir = fileURLToPath(new URL('../../src/iam/cases', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
const all = files.flatMap((f) => {
  const data = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { policies?: Record<string, object[]>; principal?: Case['principal']; cases: Case[] };
  return data.cases.map((c) => ({ file: f, c: { ...c, policies: { ...data.policies, ...c.policies }, principal: c.principal ?? data.principal } }));
});

/** Why a case cannot go through the simulator's API, or undefined when it can. */
function notExpressible(c: Case): string | undefined {
  if (c.policies?.['session']) return 'session policies';
  if (c.principal && c.principal.type !== 'user') return 'non-user caller';
  if (c.principal && 'tags' in c.principal) return 'principal tags (AWS takes them from the caller user)';
  if (c.principal?.userId !== undefined || JSON.stringify(c).includes('aws:userid')) return 'a fixed user id';
  if (c.options) return 'evaluation options';
  // The simulator uses context entries as given (AWS documents so); real requests never let them override the principal.
  if (Object.keys(c.request.context ?? {}).some((k) => /^aws:(username|userid|principal(arn|account|type|tag\/.*))$/i.test(k))) return 'principal keys in the request context';
  return undefined;
}

function contextType(key: string, v: unknown): string {
  const scalar = Array.isArray(v) ? v[0] : v;
  const base = /sourceip/i.test(key) ? 'ip' : typeof scalar === 'number' ? 'numeric' : typeof scalar === 'boolean' ? 'boolean' : 'string';
  return Array.isArray(v) ? `${base}List` : base;
}

let iamdb: TestIamdb;
let iam: IAMClient;
beforeAll(async () => {
  iamdb = await startIamdb({ api: { listen: 'auto' } });
  iam = new IAMClient({ endpoint: iamdb.apiUrl, region: REGION, credentials: { accessKeyId: iamdb.admin.id, secretAccessKey: iamdb.admin.secret }, maxAttempts: 1 });
});
afterAll(() => iamdb.stop());

describe('SimulateCustomPolicy answers the evaluator case table', () => {
  const expressible = all.filter(({ c }) => notExpressible(c) === undefined);

  it('sends most of the table through the simulator', () => {
    expect(expressible.length).toBeGreaterThan(all.length * 0.85);
  });

  for (const { file, c } of expressible) {
    it(`${file}: ${c.name}`, async () => {
      const context: ContextEntry[] = Object.entries(c.request.context ?? {})
        .filter(([, v]) => v !== null && v !== undefined)
        .map(([k, v]) => ({ ContextKeyName: k, ContextKeyType: contextType(k, v) as ContextEntry['ContextKeyType'], ContextKeyValues: (Array.isArray(v) ? v : [v]).map(String) }));
      const out = await iam.send(
        new SimulateCustomPolicyCommand({
          PolicyInputList: (c.policies?.['identity'] ?? []).map((p) => JSON.stringify(p)),
          ...(c.policies?.['boundary'] ? { PermissionsBoundaryPolicyInputList: c.policies['boundary'].map((p) => JSON.stringify(p)) } : {}),
          ...(c.policies?.['resource'] ? { ResourcePolicy: JSON.stringify(c.policies['resource'][0]) } : {}),
          ActionNames: [c.request.action],
          ResourceArns: [c.request.resource],
          CallerArn: c.principal?.arn ?? 'arn:aws:iam::123456789012:user/alice',
          ContextEntries: context,
        }),
      );
      expect(out.EvaluationResults![0]!.EvalDecision).toBe(c.expected.decision);
    });
  }
});
