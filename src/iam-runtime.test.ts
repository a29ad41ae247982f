import { describe, expect, it } from 'vitest';
import { loadConfig } from './config/index.js';
import { checkIamSection } from './iam-runtime.js';

describe('checkIamSection', () => {
  it('reports every bad policy document of the config at once, with both paths', () => {
    const config = loadConfig({
      text: `
iam:
  users:
    - name: alice
      policies:
        - name: ok
          document: { Version: "2012-10-17", Statement: [{ Effect: Allow, Action: "rds-db:connect", Resource: "*" }] }
        - name: bad
          document: { Version: "2012-10-17", Statement: [{ Effect: Maybe, Action: "rds-db:connect", Resource: "*" }] }
  roles:
    - name: app
      assumeRolePolicy: { Version: "2012-10-17", Statement: [{ Effect: Allow, Action: "sts:AssumeRole" }] }
`,
    });
    const problems = checkIamSection(config);
    expect(problems.map((p) => p.path)).toEqual(['iam.users[0].policies[1].document', 'iam.roles[0].assumeRolePolicy']);
    expect(problems[0]!.message).toMatch(/^Statement\[0\]\.Effect/);
    expect(problems[1]!.message).toMatch(/Principal/);
  });
});

describe('IamRuntime saving', () => {
  it('keeps saving after a failed write: flush reports the failure, the next change stores everything', async () => {
    const { randomBytes } = await import('node:crypto');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createSealer } = await import('./crypto/index.js');
    const { openSqliteStore } = await import('./store/index.js');
    const { SessionCredentialIssuer } = await import('./sts/index.js');
    const { IamRuntime } = await import('./iam-runtime.js');
    const { Secret, systemClock } = await import('./util/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'iamdb-runtime-'));
    const store = await openSqliteStore(join(dir, 'state.db'));
    try {
      const sealer = createSealer(new Secret(randomBytes(32)));
      const sessions = new SessionCredentialIssuer(sealer.deriveKey('sts/session-token'), systemClock);
      let failNext = false;
      const flaky: typeof store = {
        get: (kind, id) => store.get(kind, id),
        list: (kind, options) => store.list(kind, options),
        delete: (kind, id, options) => store.delete(kind, id, options),
        transaction: (fn) => store.transaction(fn),
        close: () => store.close(),
        put: async (kind, id, data, options) => {
          if (failNext) {
            failNext = false;
            throw new Error('disk full');
          }
          return store.put(kind, id, data, options);
        },
      };
      const runtime = await IamRuntime.open({ config: loadConfig({ text: '' }), store: flaky, sealer, sessions, clock: systemClock });
      failNext = true;
      runtime.directory.createUser({ userName: 'first' });
      await expect(runtime.flush()).rejects.toThrow('disk full');
      runtime.directory.createUser({ userName: 'second' });
      await runtime.flush();
      const saved = await store.get<{ users: Array<{ userName: string }> }>('iam', 'directory');
      expect(saved!.data.users.map((u) => u.userName).sort()).toEqual(['first', 'second']);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
