/**
 * IAM at run time: the directory (users, roles, keys, policies) loaded from
 * the state store, extended by the config file's `iam` section at each start
 * (a bootstrap: it creates and updates what it names, never deletes what the
 * API added), persisted on every change with access-key secrets sealed, and
 * the three services the gateway needs from it: token verification, access
 * key resolution (long-term and temporary) and `rds-db:connect`
 * authorization.
 */
import type { Config } from './config/index.js';
import type { Sealer } from './crypto/index.js';
import { IamdbError, isIamdbError } from './errors/index.js';
import type { ConnectAuthorizer, CredentialResolver, ResolvedPrincipal, TokenVerifier } from './gateway/iam-login.js';
import { IamDirectory, accessDeniedMessage, evaluate, parsePolicy, parsePolicyOrThrow, type Analysis, type IamDirectoryState, type PolicyInput, type PolicyKind, type RequestContext } from './iam/index.js';
import { verifyDbAuthToken } from './sigv4/index.js';
import type { StateStore } from './store/state-store.js';
import type { SessionCredentialIssuer } from './sts/index.js';
import { Secret, type Clock } from './util/index.js';

const KIND = 'iam';
const ID = 'directory';

type SealedState = Omit<IamDirectoryState, 'users'> & {
  users: Array<Omit<IamDirectoryState['users'][number], 'accessKeys'> & { accessKeys: Array<Omit<IamDirectoryState['users'][number]['accessKeys'][number], 'secretAccessKey'> & { sealedSecret: string }> }>;
};

function docText(doc: string | Record<string, unknown>): string {
  return typeof doc === 'string' ? doc : JSON.stringify(doc);
}

export class IamRuntime {
  #saving: Promise<void> = Promise.resolve();
  #dirty = false;

  private constructor(
    readonly directory: IamDirectory,
    private readonly store: StateStore,
    private readonly sealer: Sealer,
    private readonly sessions: SessionCredentialIssuer,
    private readonly partition: string,
    private readonly clock: Clock,
  ) {}

  static async open(deps: { config: Config; store: StateStore; sealer: Sealer; sessions: SessionCredentialIssuer; clock: Clock }): Promise<IamRuntime> {
    const { config, store, sealer } = deps;
    const rec = await store.get<SealedState>(KIND, ID);
    let directory: IamDirectory;
    if (rec !== undefined) {
      const state: IamDirectoryState = {
        ...rec.data,
        users: rec.data.users.map((u) => ({
          ...u,
          accessKeys: u.accessKeys.map(({ sealedSecret, ...k }) => ({ ...k, secretAccessKey: sealer.open(sealedSecret, `iam/access-key/${k.accessKeyId}`).toString('utf8') })),
        })),
      } as IamDirectoryState;
      directory = IamDirectory.fromState(state, { clock: deps.clock });
    } else {
      directory = new IamDirectory({ accountId: config.account, partition: config.partition, clock: deps.clock });
    }
    const runtime = new IamRuntime(directory, store, sealer, deps.sessions, config.partition, deps.clock);
    applyBootstrap(directory, config);
    await runtime.save();
    directory.onChange(() => runtime.#scheduleSave());
    return runtime;
  }

  /** Writes the directory to the store, secrets sealed. */
  async save(): Promise<void> {
    const state = this.directory.snapshot();
    const sealed: SealedState = {
      ...state,
      users: state.users.map((u) => ({
        ...u,
        accessKeys: u.accessKeys.map(({ secretAccessKey, ...k }) => ({ ...k, sealedSecret: this.sealer.seal(secretAccessKey, `iam/access-key/${k.accessKeyId}`) })),
      })),
    };
    await this.store.put(KIND, ID, sealed);
  }

  #scheduleSave(): void {
    if (this.#dirty) return;
    this.#dirty = true;
    // A failed save must not poison the chain: the next change saves the whole directory again.
    const run = this.#saving
      .catch(() => undefined)
      .then(async () => {
        this.#dirty = false;
        await this.save();
      });
    // Nobody may be waiting on this save; its failure is reported by flush(), not as an unhandled rejection.
    run.catch(() => undefined);
    this.#saving = run;
  }

  /** Resolves when pending changes are stored; rejects when the last save failed (a later change retries it). */
  flush(): Promise<void> {
    return this.#saving;
  }

  readonly tokenVerifier: TokenVerifier = {
    verify: async (token, ctx) => {
      const v = await verifyDbAuthToken<ResolvedPrincipal>(token, ctx);
      return { accessKeyId: v.accessKeyId, principal: v.principal };
    },
  };

  readonly credentialResolver: CredentialResolver = {
    resolve: async (accessKeyId, sessionToken) => {
      if (accessKeyId.startsWith('ASIA')) {
        if (sessionToken === undefined) throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
        const s = this.sessions.open(accessKeyId, sessionToken);
        const id = s.identity;
        const session = {
          via: id.type === 'assumed-role' ? ('AssumeRole' as const) : ('GetSessionToken' as const),
          issuedAt: s.issuedAt,
          expiresAt: s.expiresAt,
          ...(id.sourceIdentity !== undefined ? { sourceIdentity: id.sourceIdentity } : {}),
          ...(id.tags !== undefined ? { tags: id.tags } : {}),
        };
        if (id.type === 'assumed-role') {
          if (id.roleName === undefined) throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
          let roleId: string;
          try {
            roleId = this.directory.getRole(id.roleName).roleId;
          } catch {
            throw new IamdbError('STS_UNKNOWN_ROLE', { accessKeyId });
          }
          if (id.roleId !== undefined && id.roleId !== roleId) throw new IamdbError('STS_UNKNOWN_ROLE', { accessKeyId });
          return {
            secretAccessKey: s.secretAccessKey,
            principal: {
              arn: id.principalArn,
              accountId: id.accountId,
              type: 'assumed-role',
              name: id.sessionName ?? '',
              userId: `${roleId}:${id.sessionName ?? ''}`,
              roleName: id.roleName,
              ...(id.sessionName ? { sessionName: id.sessionName } : {}),
              ...(id.sessionPolicies ? { sessionPolicies: id.sessionPolicies } : {}),
              session,
            },
          };
        }
        const user = this.#userOrThrow(id.userName ?? '', accessKeyId);
        if (id.userId !== undefined && id.userId !== user.userId) throw new IamdbError('STS_UNKNOWN_USER', { accessKeyId });
        return {
          secretAccessKey: s.secretAccessKey,
          principal: { arn: user.arn, accountId: this.directory.accountId, type: 'user', name: user.userName, userId: user.userId, ...(id.sessionPolicies ? { sessionPolicies: id.sessionPolicies } : {}), session },
        };
      }
      if (sessionToken !== undefined) throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
      const found = this.directory.findAccessKey(accessKeyId);
      if (found === undefined) throw new IamdbError('GATEWAY_UNKNOWN_ACCESS_KEY', { accessKeyId });
      if (found.key.status !== 'Active') throw new IamdbError('GATEWAY_INACTIVE_ACCESS_KEY', { accessKeyId });
      const u = found.user;
      return {
        secretAccessKey: found.key.secretAccessKey,
        principal: { arn: u.arn, accountId: this.directory.accountId, type: 'user', name: u.userName, userId: u.userId },
      };
    },
  };

  #userOrThrow(userName: string, accessKeyId: string): { arn: string; userName: string; userId: string } {
    try {
      return this.directory.getUser(userName);
    } catch (err) {
      if (isIamdbError(err)) throw new IamdbError('GATEWAY_UNKNOWN_ACCESS_KEY', { accessKeyId });
      throw err;
    }
  }

  /**
   * Evaluates one request of a resolved caller (an access key's user, or a
   * role session) against the caller's identity policies, boundary and
   * session policies, plus the target's resource policies if it has any.
   * Adds the context keys AWS derives from the caller and the clock
   * (aws:CurrentTime, aws:EpochTime, aws:TokenIssueTime,
   * aws:SourceIdentity, the principal keys): they override any the caller's
   * `context` names. The one authorization path of iamdb: the control plane
   * and the gateway's `rds-db:connect` both come here.
   */
  authorizeRequest(input: {
    principal: ResolvedPrincipal;
    action: string;
    resource: string;
    context?: RequestContext;
    resourcePolicies?: readonly PolicyInput[];
  }): Analysis | { decision: 'implicitDeny'; missingPrincipal: true; message: string } {
    const { principal } = input;
    const isRole = principal.type === 'assumed-role';
    let owned;
    let entityTags: Readonly<Record<string, string>> = {};
    try {
      owned = this.directory.policiesFor(isRole ? { roleName: principal.roleName! } : { userName: principal.name });
      entityTags = isRole ? this.directory.getRole(principal.roleName!).tags : this.directory.getUser(principal.name).tags;
    } catch {
      return { decision: 'implicitDeny', missingPrincipal: true, message: `principal ${principal.arn} no longer exists` };
    }
    const session: PolicyInput[] | undefined = principal.sessionPolicies?.map((doc, i) => ({ label: `session/${i}`, policy: parsePolicyOrThrow(doc, 'session') }));
    const derived = this.#timeContext();
    if (principal.session) {
      derived['aws:TokenIssueTime'] = isoSeconds(principal.session.issuedAt);
      if (principal.session.sourceIdentity !== undefined) derived['aws:SourceIdentity'] = principal.session.sourceIdentity;
    }
    return evaluate({
      request: {
        principal: {
          arn: principal.arn,
          accountId: principal.accountId,
          type: principal.type,
          ...(principal.type === 'user' ? { userName: principal.name } : {}),
          ...(principal.userId ? { userId: principal.userId } : {}),
          ...(isRole ? { roleArn: `arn:${this.partition}:iam::${principal.accountId}:role/${principal.roleName}` } : {}),
          ...(principal.sessionName ? { sessionName: principal.sessionName } : {}),
          // Session tags win over the role's own tags, as in AWS.
          tags: { ...entityTags, ...(principal.session?.tags ?? {}) },
        },
        action: input.action,
        resource: input.resource,
        context: withoutKeys(input.context ?? {}, Object.keys(derived), derived),
      },
      identity: owned.identity,
      ...(input.resourcePolicies ? { resource: input.resourcePolicies } : {}),
      ...(owned.boundary ? { boundary: owned.boundary } : {}),
      ...(session ? { session } : {}),
    });
  }

  /**
   * Times as AWS puts them in a request context: ISO 8601 in UTC to the second
   * (`2026-11-23T09:00:00Z`), epoch seconds for aws:EpochTime. Derived here only, for the
   * API, the gateway and RDS Proxy alike, and never taken from the caller's context.
   */
  #timeContext(): Record<string, string> {
    const now = this.clock.now();
    return { 'aws:CurrentTime': isoSeconds(now), 'aws:EpochTime': String(Math.floor(now / 1000)) };
  }

  /**
   * Evaluates a request made by an AWS service principal (`rds.amazonaws.com`
   * assuming an RDS Proxy's role) against resource policies only: a service
   * belongs to no account of the directory and has no identity policies, so
   * only a policy naming it in `Principal: { Service: … }` (a role's trust
   * policy) can let it in. The caller checks that a resource policy allowed
   * (`resourcePolicyAllows`). The principal carries `account`, the account
   * the service acts for, only so that the evaluator treats the resource as
   * the account's own; a policy sees aws:PrincipalServiceName and
   * aws:PrincipalIsAWSService, never an account or ARN of the service.
   */
  authorizeService(input: { service: string; account: string; action: string; resource: string; context?: RequestContext; resourcePolicies: readonly PolicyInput[] }): Analysis {
    const derived = this.#timeContext();
    return evaluate({
      request: {
        principal: { arn: input.service, accountId: input.account, type: 'service' },
        action: input.action,
        resource: input.resource,
        context: withoutKeys(input.context ?? {}, Object.keys(derived), derived),
      },
      identity: [],
      resource: input.resourcePolicies,
    });
  }

  readonly connectAuthorizer: ConnectAuthorizer = {
    authorize: (principal, resource, context) => {
      const analysis = this.authorizeRequest({ principal, action: 'rds-db:connect', resource, context });
      if ('missingPrincipal' in analysis) return { decision: 'implicitDeny', matchedStatements: [], message: analysis.message };
      return {
        decision: analysis.decision,
        matchedStatements: analysis.matchedStatements.map((m) => `${m.source}#${m.index}${m.sid ? `(${m.sid})` : ''}:${m.effect}`),
        message: accessDeniedMessage(analysis) ?? '',
      };
    },
  };
}

/** A time as ISO 8601 in UTC to the second, the form AWS gives aws:CurrentTime and aws:TokenIssueTime. */
function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `context` without `keys` (compared case-insensitively, as condition keys are), then `extra`. */
function withoutKeys(context: RequestContext, keys: readonly string[], extra: RequestContext): RequestContext {
  const drop = new Set(keys.map((k) => k.toLowerCase()));
  return { ...Object.fromEntries(Object.entries(context).filter(([k]) => !drop.has(k.toLowerCase()))), ...extra };
}

/**
 * Validates every policy document of the config file's IAM section, so that
 * all problems are reported at once with their config path and the path
 * inside the document, e.g. `iam.users[0].policies[1].document: Statement[0].Action: …`.
 */
export function checkIamSection(config: Config): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  const check = (doc: unknown, kind: PolicyKind, where: string): void => {
    const result = parsePolicy(doc as string | object, kind);
    if (!result.ok) for (const p of result.problems) problems.push({ path: where, message: p.path ? `${p.path}: ${p.message}` : p.message });
  };
  config.iam.managedPolicies.forEach((mp, i) => check(mp.document, 'identity', `iam.managedPolicies[${i}].document`));
  config.iam.users.forEach((u, i) => u.policies.forEach((p, j) => check(p.document, 'identity', `iam.users[${i}].policies[${j}].document`)));
  config.iam.groups.forEach((g, i) => g.policies.forEach((p, j) => check(p.document, 'identity', `iam.groups[${i}].policies[${j}].document`)));
  config.iam.roles.forEach((r, i) => {
    check(r.assumeRolePolicy, 'trust', `iam.roles[${i}].assumeRolePolicy`);
    r.policies.forEach((p, j) => check(p.document, 'identity', `iam.roles[${i}].policies[${j}].document`));
  });
  return problems;
}

/** Applies the config file's IAM section: creates what is missing, brings what it names up to date. */
export function applyBootstrap(dir: IamDirectory, config: Config): void {
  const problems = checkIamSection(config);
  if (problems.length > 0) {
    throw new IamdbError('CONFIG_INVALID', { problems: problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'), count: problems.length });
  }
  const acct = config.account;
  const policyArn = (ref: string): string => (ref.startsWith('arn:') ? ref : `arn:${config.partition}:iam::${acct}:policy/${ref.replace(/^\//, '')}`);
  for (const mp of config.iam.managedPolicies) {
    const arn = `arn:${config.partition}:iam::${acct}:policy${mp.path}${mp.name}`;
    const doc = docText(mp.document as string | Record<string, unknown>);
    let existing;
    try {
      existing = dir.getPolicy(arn);
    } catch {
      existing = undefined;
    }
    if (existing === undefined) {
      dir.createPolicy({ policyName: mp.name, policyDocument: doc, path: mp.path, ...(mp.description ? { description: mp.description } : {}) });
    } else if (dir.getPolicyVersion(arn, existing.defaultVersionId).document !== doc) {
      const versions = dir.listPolicyVersions(arn);
      if (versions.length >= 5) {
        const oldest = versions.filter((v) => v.versionId !== existing.defaultVersionId).at(-1) ?? versions.at(-1)!;
        dir.deletePolicyVersion(arn, oldest.versionId);
      }
      dir.createPolicyVersion(arn, doc, true);
    }
  }
  const exists = (f: () => unknown): boolean => {
    try {
      f();
      return true;
    } catch {
      return false;
    }
  };
  for (const g of config.iam.groups) {
    if (!exists(() => dir.getGroup(g.name))) dir.createGroup({ groupName: g.name, path: g.path });
    for (const p of g.policies) dir.putGroupPolicy(g.name, p.name, docText(p.document as string | Record<string, unknown>));
    for (const ref of g.managedPolicies) if (!dir.listAttachedGroupPolicies(g.name).includes(policyArn(ref))) dir.attachGroupPolicy(g.name, policyArn(ref));
  }
  for (const u of config.iam.users) {
    const tags = Array.isArray(u.tags) ? Object.fromEntries(u.tags.map((t) => [t.Key, t.Value])) : (u.tags as Record<string, string> | undefined);
    if (!exists(() => dir.getUser(u.name))) dir.createUser({ userName: u.name, path: u.path, ...(tags ? { tags } : {}) });
    for (const p of u.policies) dir.putUserPolicy(u.name, p.name, docText(p.document as string | Record<string, unknown>));
    for (const ref of u.managedPolicies) if (!dir.listAttachedUserPolicies(u.name).includes(policyArn(ref))) dir.attachUserPolicy(u.name, policyArn(ref));
    if (u.permissionsBoundary !== undefined) dir.putUserPermissionsBoundary(u.name, policyArn(u.permissionsBoundary));
    for (const g of u.groups) {
      if (!dir.getGroup(g).users.some((x) => x.toLowerCase() === u.name.toLowerCase())) dir.addUserToGroup(g, u.name);
    }
    const current = new Map(dir.listAccessKeys(u.name).map((k) => [k.accessKeyId, k]));
    for (const k of u.accessKeys) {
      const have = current.get(k.id);
      if (have === undefined) {
        dir.createAccessKey(u.name, { accessKeyId: k.id, secretAccessKey: k.secret, status: k.status });
      } else {
        if (!dir.checkAccessKeySecret(k.id, k.secret.reveal())) {
          // The file changed the secret: replace the key.
          dir.deleteAccessKey(k.id, u.name);
          dir.createAccessKey(u.name, { accessKeyId: k.id, secretAccessKey: k.secret, status: k.status });
        } else if (have.status !== k.status) {
          dir.updateAccessKey(k.id, k.status, u.name);
        }
      }
    }
  }
  for (const r of config.iam.roles) {
    const trust = docText(r.assumeRolePolicy as string | Record<string, unknown>);
    const tags = Array.isArray(r.tags) ? Object.fromEntries(r.tags.map((t) => [t.Key, t.Value])) : (r.tags as Record<string, string> | undefined);
    if (!exists(() => dir.getRole(r.name))) {
      dir.createRole({ roleName: r.name, assumeRolePolicyDocument: trust, path: r.path, maxSessionDuration: r.maxSessionDuration, ...(r.description ? { description: r.description } : {}), ...(tags ? { tags } : {}) });
    } else {
      dir.updateAssumeRolePolicy(r.name, trust);
      dir.updateRole(r.name, { maxSessionDuration: r.maxSessionDuration, ...(r.description ? { description: r.description } : {}) });
    }
    for (const p of r.policies) dir.putRolePolicy(r.name, p.name, docText(p.document as string | Record<string, unknown>));
    for (const ref of r.managedPolicies) if (!dir.listAttachedRolePolicies(r.name).includes(policyArn(ref))) dir.attachRolePolicy(r.name, policyArn(ref));
    if (r.permissionsBoundary !== undefined) dir.putRolePermissionsBoundary(r.name, policyArn(r.permissionsBoundary));
  }
}

export { Secret };
