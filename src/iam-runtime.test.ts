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
        get writes() {
          return store.writes;
        },
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

describe('IamRuntime.authorizeRequest, the one authorization of the API and the gateway', () => {
  const ACCT = '123456789012';
  const DB = `arn:aws:rds-db:us-east-1:${ACCT}:dbuser:db-ABCDEFGHIJKL`;
  const connect = (resource = `${DB}/*`, condition?: Record<string, unknown>): string =>
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: resource, ...(condition ? { Condition: condition } : {}) }] });
  const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCT}:root` }, Action: 'sts:AssumeRole' }] });

  type Setup = {
    runtime: import('./iam-runtime.js').IamRuntime;
    clock: { t: number; now(): number };
    user(name: string): Promise<import('./gateway/iam-login.js').ResolvedPrincipal>;
    session(roleName: string, sessionName: string, extra?: { sessionPolicies?: string[]; tags?: Record<string, string> }): Promise<import('./gateway/iam-login.js').ResolvedPrincipal>;
    close(): Promise<void>;
  };

  /** A runtime over a real SQLite store; principals come from real keys and sealed session tokens, resolved as the API and the gateway resolve them. */
  async function setup(): Promise<Setup> {
    const { randomBytes } = await import('node:crypto');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createSealer } = await import('./crypto/index.js');
    const { openSqliteStore } = await import('./store/index.js');
    const { SessionCredentialIssuer } = await import('./sts/index.js');
    const { IamRuntime } = await import('./iam-runtime.js');
    const { Secret } = await import('./util/index.js');
    const dir = mkdtempSync(join(tmpdir(), 'iamdb-runtime-'));
    const store = await openSqliteStore(join(dir, 'state.db'));
    const clock = { t: Date.parse('2026-11-23T09:00:00Z'), now(): number { return this.t; } };
    const sealer = createSealer(new Secret(randomBytes(32)));
    const sessions = new SessionCredentialIssuer(sealer.deriveKey('sts/session-token'), clock);
    const runtime = await IamRuntime.open({ config: loadConfig({ text: `account: "${ACCT}"` }), store, sealer, sessions, clock });
    return {
      runtime,
      clock,
      async user(name) {
        const key = runtime.directory.createAccessKey(name);
        return (await runtime.credentialResolver.resolve(key.accessKeyId, undefined)).principal;
      },
      async session(roleName, sessionName, extra = {}) {
        const role = runtime.directory.getRole(roleName);
        const creds = sessions.issue(
          { principalArn: `arn:aws:sts::${ACCT}:assumed-role/${role.roleName}/${sessionName}`, accountId: ACCT, type: 'assumed-role', roleName: role.roleName, roleArn: role.arn, roleId: role.roleId, sessionName, ...extra },
          900,
        );
        return (await runtime.credentialResolver.resolve(creds.accessKeyId, creds.sessionToken)).principal;
      },
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  it('authorizes rds-db:connect for users and role sessions, with session policies as a ceiling', async () => {
    const { accessDeniedMessage } = await import('./iam/index.js');
    const s = await setup();
    try {
      const dir = s.runtime.directory;
      dir.createUser({ userName: 'alice' });
      dir.putUserPolicy('alice', 'db', connect(`${DB}/\${aws:username}`));
      const alice = await s.user('alice');
      expect(s.runtime.authorizeRequest({ principal: alice, action: 'rds-db:connect', resource: `${DB}/alice` }).decision).toBe('allowed');
      const no = s.runtime.authorizeRequest({ principal: alice, action: 'rds-db:connect', resource: `${DB}/admin` });
      expect(no.decision).toBe('implicitDeny');
      expect('missingPrincipal' in no ? undefined : accessDeniedMessage(no)).toBe(
        `User: arn:aws:iam::${ACCT}:user/alice is not authorized to perform: rds-db:connect on resource: ${DB}/admin because no identity-based policy allows the rds-db:connect action`,
      );

      dir.createRole({ roleName: 'app', path: '/svc/', assumeRolePolicyDocument: trust });
      dir.putRolePolicy('app', 'db', connect());
      const session = await s.session('app', 's1');
      expect(session.arn).toBe(`arn:aws:sts::${ACCT}:assumed-role/app/s1`);
      expect(s.runtime.authorizeRequest({ principal: session, action: 'rds-db:connect', resource: `${DB}/app` }).decision).toBe('allowed');
      const limited = s.runtime.authorizeRequest({ principal: await s.session('app', 's2', { sessionPolicies: [connect(`${DB}/other`)] }), action: 'rds-db:connect', resource: `${DB}/app` });
      expect(limited).toMatchObject({ decision: 'implicitDeny', deniedBy: 'session' });
    } finally {
      await s.close();
    }
  });

  it('sets aws:CurrentTime to the second, as AWS does, for the API and the gateway alike, whatever the caller passes', async () => {
    const s = await setup();
    try {
      const dir = s.runtime.directory;
      dir.createUser({ userName: 'timed' });
      // Allowed during one second only: 2026-12-31T23:59:59Z.
      dir.putUserPolicy('timed', 'db', connect(`${DB}/*`, { DateGreaterThanEquals: { 'aws:CurrentTime': '2026-12-31T23:59:59Z' }, DateLessThanEquals: { 'aws:CurrentTime': '2026-12-31T23:59:59Z' }, StringLike: { 'aws:CurrentTime': '????-??-??T??:??:??Z' } }));
      const timed = await s.user('timed');
      const gateway = (): string => s.runtime.connectAuthorizer.authorize(timed, `${DB}/timed`, { 'aws:SourceIp': '127.0.0.1' }).decision;
      const api = (context = {}): string => s.runtime.authorizeRequest({ principal: timed, action: 'rds-db:connect', resource: `${DB}/timed`, context }).decision;
      s.clock.t = Date.parse('2026-12-31T23:59:59.500Z');
      expect([gateway(), api()]).toEqual(['allowed', 'allowed']);
      // A context that names the time cannot move it.
      expect(api({ 'aws:CurrentTime': '2000-01-01T00:00:00Z', 'AWS:EPOCHTIME': '0' })).toBe('allowed');
      s.clock.t = Date.parse('2027-01-01T00:00:00.000Z');
      expect([gateway(), api()]).toEqual(['implicitDeny', 'implicitDeny']);
      expect(api({ 'aws:CurrentTime': '2026-12-31T23:59:59Z' })).toBe('implicitDeny');
    } finally {
      await s.close();
    }
  });

  it("gives a session's tags precedence over its role's tags in aws:PrincipalTag, and keeps aws:TokenIssueTime to the second", async () => {
    const s = await setup();
    try {
      const dir = s.runtime.directory;
      dir.createRole({ roleName: 'app', assumeRolePolicyDocument: trust, tags: { team: 'web', tier: 'gold' } });
      dir.putRolePolicy('app', 'db', connect(`${DB}/\${aws:PrincipalTag/team}`, { StringEquals: { 'aws:PrincipalTag/tier': 'gold' } }));
      s.clock.t = Date.parse('2026-11-23T09:00:00.750Z');
      const tagged = await s.session('app', 'tagged', { tags: { team: 'db' } });
      const decide = (resource: string): string => s.runtime.authorizeRequest({ principal: tagged, action: 'rds-db:connect', resource }).decision;
      expect(decide(`${DB}/db`)).toBe('allowed');
      expect(decide(`${DB}/web`)).toBe('implicitDeny');
      dir.putRolePolicy('app', 'issued', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringNotEquals: { 'aws:TokenIssueTime': '2026-11-23T09:00:00Z' } } }] }));
      expect(decide(`${DB}/db`)).toBe('allowed');
    } finally {
      await s.close();
    }
  });
});
