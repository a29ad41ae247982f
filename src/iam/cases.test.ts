/**
 * Runs every JSON case file in ./cases: each case gives policies by type, a
 * request and the expected decision (and optionally who denied and the
 * AccessDenied text). File-level `principal` and `policies` are defaults.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { accessDeniedMessage, evaluate, type PolicyInput, type PolicyType } from './evaluate.js';
import { parsePolicyOrThrow } from './policy/parse.js';
import type { PolicyKind } from './policy/types.js';
import type { RequestPrincipal } from './request.js';
import type { RequestContext } from './context.js';

interface CaseFile {
  description: string;
  principal?: RequestPrincipal;
  policies?: Partial<Record<PolicyType, object[]>>;
  cases: {
    name: string;
    policies?: Partial<Record<PolicyType, object[]>>;
    principal?: RequestPrincipal;
    request: { action: string; resource: string; context?: RequestContext };
    options?: { namedPrincipalBypassesCeilings?: boolean };
    expected: { decision: string; deniedBy?: string; message?: string; sids?: string[] };
  }[];
}

const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'cases');
const DEFAULT_PRINCIPAL: RequestPrincipal = {
  arn: 'arn:aws:iam::123456789012:user/alice',
  accountId: '123456789012',
  type: 'user',
  userName: 'alice',
  userId: 'AIDAEXAMPLEALICE00001',
};
const KIND: Record<PolicyType, PolicyKind> = { identity: 'identity', resource: 'resource', boundary: 'boundary', session: 'session' };

function inputs(type: PolicyType, docs: object[] | undefined): PolicyInput[] | undefined {
  return docs?.map((d, i) => ({ label: `${type}[${i}]`, policy: parsePolicyOrThrow(d, KIND[type]) }));
}

const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

describe('policy evaluation cases', () => {
  it('has case files', () => expect(files.length).toBeGreaterThan(5));
  for (const file of files) {
    const data = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CaseFile;
    describe(`${file}: ${data.description}`, () => {
      for (const c of data.cases) {
        it(c.name, () => {
          const policies = { ...data.policies, ...c.policies };
          const request = { principal: c.principal ?? data.principal ?? DEFAULT_PRINCIPAL, ...c.request };
          const identity = inputs('identity', policies.identity) ?? [];
          const resource = inputs('resource', policies.resource);
          const boundary = inputs('boundary', policies.boundary);
          const session = inputs('session', policies.session);
          const a = evaluate({
            request,
            identity,
            ...(resource ? { resource } : {}),
            ...(boundary ? { boundary } : {}),
            ...(session ? { session } : {}),
            ...(c.options ? { options: c.options } : {}),
          });
          expect(a.decision, a.notes.join('\n')).toBe(c.expected.decision);
          if (c.expected.deniedBy) expect(a.deniedBy).toBe(c.expected.deniedBy);
          if (c.expected.message) expect(accessDeniedMessage(a)).toBe(c.expected.message);
          if (c.expected.sids) expect(a.matchedStatements.map((m) => m.sid).sort()).toEqual([...c.expected.sids].sort());
        });
      }
    });
  }
});
