/**
 * RDS Proxy's database credentials, read the way RDS Proxy reads them: with
 * the proxy's IAM role, from one Secrets Manager secret per database user,
 * through the same IAM engine, directory, secret registry and keyring the
 * control plane uses.
 *
 * Outcomes are cached for at most a second, and only while nothing they were
 * built from can have changed (`freshness`: the state store's write count and
 * the IAM directory's change count). A policy, trust, key or secret change
 * made on this node therefore takes effect at the next call, as without a
 * cache; the second bounds what no counter sees (a date condition, a key's
 * deletion date, another node's write). Without the cache an IAM login to a
 * proxy paid a policy evaluation and a KMS decrypt per auth entry, about a
 * sixth of its CPU (docs/performance.md).
 *
 * Per auth entry, in order:
 *
 * 1. The role (`RoleArn`) exists in this account.
 * 2. Its trust policy lets the service principal `rds.amazonaws.com` perform
 *    `sts:AssumeRole`. Evaluated as AWS evaluates a service principal: only
 *    the trust policy can let it in (a service has no identity policies),
 *    and the request carries aws:PrincipalServiceName = rds.amazonaws.com,
 *    aws:PrincipalIsAWSService = true, and the confused-deputy keys a service
 *    sets when it acts for one of the account's resources:
 *    aws:SourceAccount = the proxy's account, aws:SourceArn = the proxy's
 *    ARN. No aws:PrincipalArn or aws:PrincipalAccount (a service has none).
 * 3. The role's session (`arn:…:sts::ACCOUNT:assumed-role/ROLE/PROXY_NAME`,
 *    the proxy's name as session name) may `secretsmanager:GetSecretValue`
 *    the secret: identity policies, boundary and the secret's resource
 *    policy, with the keys Secrets Manager sets (secretsmanager:SecretId,
 *    secretsmanager:ResourceTag/*, aws:ResourceTag/*), aws:SecureTransport =
 *    true and aws:RequestedRegion (the SDK call RDS makes). aws:SourceIp is
 *    absent: the call comes from the service's own network, which no policy
 *    of the account can name.
 * 4. The session may `kms:Decrypt` the secret's key, through Secrets Manager:
 *    the role's policies and the key policy (which must itself allow), with
 *    kms:ViaService = secretsmanager.REGION.amazonaws.com, kms:CallerAccount
 *    and the encryption context Secrets Manager sends,
 *    kms:EncryptionContext:SecretARN and kms:EncryptionContext:SecretVersionId.
 * 5. The AWSCURRENT value is a SecretString holding a JSON object with
 *    string `username` and `password` (other fields are ignored).
 *
 * A failure names its reason code (audit log, health) and a description in
 * AWS's tone that says exactly what to fix. No message ever holds the
 * password or any part of the secret's value.
 */
import { isIamdbError } from '../errors/index.js';
import type { IamRuntime } from '../iam-runtime.js';
import { resourcePolicyAllows, type Analysis, type RequestContext, type ResolvedPrincipal } from '../iam/index.js';
import { keyPolicyInputs, keyUseContext, type Keyring, type KmsKey } from '../kms/index.js';
import { secretRequestContext, secretResourcePolicies, type DataKeys, type SecretRecord, type SecretRegistry, type SecretVersion } from '../secrets/index.js';
import { Secret, systemClock, type Clock } from '../util/index.js';
import type { ClientPasswordAuthType, IamAuthMode } from './proxy-settings.js';

/** The service principal RDS Proxy assumes its role as. */
export const RDS_SERVICE_PRINCIPAL = 'rds.amazonaws.com';


/** One UserAuthConfig of a proxy, as far as credentials and client logins need it. */
export interface ProxyAuthEntry {
  /** Deprecated on AWS; when given, the secret's username must be this one. */
  readonly userName?: string;
  readonly secretArn: string;
  readonly iamAuth: IamAuthMode;
  readonly clientPasswordAuthType?: ClientPasswordAuthType;
}

/** What credential resolution needs of a proxy (the proxy registry has more). */
export interface ProxyAuthInput {
  readonly proxyName: string;
  /** `arn:aws:rds:REGION:ACCOUNT:db-proxy:prx-…`: aws:SourceArn of the AssumeRole. */
  readonly proxyArn: string;
  readonly roleArn: string;
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  readonly auth: readonly ProxyAuthEntry[];
}

/** Why a proxy could not read one secret's credentials. */
export type ProxyCredentialReason =
  | 'RoleNotFound'
  | 'RoleNotTrustedByRds'
  | 'SecretAccessDenied'
  | 'SecretNotFound'
  | 'SecretUnavailable'
  | 'KmsKeyUnusable'
  | 'KmsDecryptDenied'
  | 'SecretValueInvalid'
  | 'CredentialsUnavailable';

export interface ResolvedProxyCredential {
  readonly ok: true;
  readonly entry: ProxyAuthEntry;
  /** The secret's full ARN and the version read. */
  readonly secretArn: string;
  readonly versionId: string;
  readonly username: string;
  readonly password: Secret<string>;
}

export interface ProxyCredentialFailure {
  readonly ok: false;
  readonly entry: ProxyAuthEntry;
  readonly secretArn: string;
  readonly reason: ProxyCredentialReason;
  /** For the operator (TargetHealth Description): what to fix, which role, action and resource. */
  readonly description: string;
  /** For the audit log: the statements that decided, or the internal error. */
  readonly detail?: string;
}

export type ProxyCredentialOutcome = ResolvedProxyCredential | ProxyCredentialFailure;

export interface ProxyCredentialDeps {
  readonly iam: Pick<IamRuntime, 'directory' | 'authorizeRequest' | 'authorizeService'>;
  readonly keyring: Keyring;
  readonly secrets: SecretRegistry;
  /** The role session's issue time (aws:TokenIssueTime) and the cache's age; default the system clock. */
  readonly clock?: Clock;
  /**
   * A stamp that changes whenever anything an outcome depends on may have
   * changed (roles, policies, secrets, keys). Without it nothing is cached.
   */
  readonly freshness?: () => string;
}

/** How long a cached outcome may be used at most, even when the stamp has not moved. */
const CACHE_MAX_AGE_MS = 1000;

interface CachedOutcome {
  readonly outcome: ProxyCredentialOutcome;
  readonly stamp: string;
  readonly at: number;
}

/** A refusal found on the way; carried out of registry callbacks as a value. */
class Refused extends Error {
  constructor(
    readonly reason: ProxyCredentialReason,
    readonly description: string,
    readonly detail?: string,
  ) {
    super(reason);
  }
}

const ROLE_ARN = /^arn:([a-z-]+):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;

/**
 * @example
 *   const creds = new ProxyCredentials({ iam, keyring, secrets });
 *   for (const c of await creds.resolveAll(proxy)) if (!c.ok) health(c.reason, c.description);
 */
export class ProxyCredentials {
  readonly #cache = new Map<string, CachedOutcome>();

  constructor(private readonly deps: ProxyCredentialDeps) {}

  /** Every auth entry's outcome, in the proxy's order. */
  resolveAll(proxy: ProxyAuthInput): Promise<ProxyCredentialOutcome[]> {
    return Promise.all(proxy.auth.map((entry) => this.resolve(proxy, entry)));
  }

  /**
   * The credentials a client login as `userName` uses: the first entry whose
   * secret names that user (user names compare exactly, as the servers'
   * do), or undefined when no secret does. Failing entries that could be
   * that user's (no UserName given, or this one) are returned when no entry
   * resolves, so the login can say why.
   */
  async forUser(proxy: ProxyAuthInput, userName: string): Promise<ProxyCredentialOutcome | undefined> {
    const candidates = proxy.auth.filter((e) => e.userName === undefined || e.userName === userName);
    const outcomes = await Promise.all(candidates.map((entry) => this.resolve(proxy, entry)));
    const hit = outcomes.find((o) => o.ok && o.username === userName);
    if (hit !== undefined) return hit;
    return outcomes.find((o) => !o.ok && o.entry.userName === userName) ?? outcomes.find((o) => !o.ok);
  }

  /** One entry's outcome, from the cache while it is fresh; never throws. */
  async resolve(proxy: ProxyAuthInput, entry: ProxyAuthEntry): Promise<ProxyCredentialOutcome> {
    const stamp = this.deps.freshness?.();
    if (stamp === undefined) return this.#resolveNow(proxy, entry);
    const now = (this.deps.clock ?? systemClock).now();
    const key = cacheKey(proxy, entry);
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.stamp === stamp && now - hit.at < CACHE_MAX_AGE_MS) return hit.outcome;
    const outcome = await this.#resolveNow(proxy, entry);
    // An internal error may pass by itself: ask again next time. The stamp read before
    // resolving is kept, so a change made meanwhile is never hidden behind this entry.
    if (outcome.ok || outcome.reason !== 'CredentialsUnavailable') this.#remember(key, { outcome, stamp, at: now });
    else this.#cache.delete(key);
    return outcome;
  }

  #remember(key: string, entry: CachedOutcome): void {
    // Bounded by the proxies' auth entries in use; stale ones are dropped as new ones come.
    if (this.#cache.size >= 4096) {
      for (const [k, v] of this.#cache) if (v.stamp !== entry.stamp || entry.at - v.at >= CACHE_MAX_AGE_MS) this.#cache.delete(k);
      if (this.#cache.size >= 4096) this.#cache.clear();
    }
    this.#cache.set(key, entry);
  }

  async #resolveNow(proxy: ProxyAuthInput, entry: ProxyAuthEntry): Promise<ProxyCredentialOutcome> {
    let secretArn = entry.secretArn;
    try {
      const session = this.#assumeRole(proxy);
      const rec = await this.#authorizedSecret(proxy, session, entry.secretArn);
      secretArn = rec.arn;
      const version = currentVersion(rec, proxy);
      const value = await this.#decrypt(proxy, session, rec, version);
      const { username, password } = parseCredentials(value, version, rec.arn, entry);
      return { ok: true, entry, secretArn: rec.arn, versionId: version.versionId, username, password };
    } catch (err) {
      if (err instanceof Refused) return { ok: false, entry, secretArn, reason: err.reason, description: err.description, ...(err.detail !== undefined ? { detail: err.detail } : {}) };
      return {
        ok: false,
        entry,
        secretArn,
        reason: 'CredentialsUnavailable',
        description: `DBProxy Target unavailable due to an internal error reading the AWS Secrets Manager secret "${secretArn}".`,
        detail: err instanceof Error ? err.message : String(err),
      };
    }
  }

  /** Steps 1 and 2: the role exists and trusts rds.amazonaws.com; its session as RDS Proxy holds it. */
  #assumeRole(proxy: ProxyAuthInput): ResolvedPrincipal {
    const dir = this.deps.iam.directory;
    const m = ROLE_ARN.exec(proxy.roleArn);
    let role;
    try {
      if (m === null || m[1] !== proxy.partition || m[2] !== dir.accountId) throw new Error('not a role of this account');
      role = dir.getRole(m[3]!);
      if (role.arn !== proxy.roleArn) throw new Error('the role has another path');
    } catch {
      throw new Refused('RoleNotFound', `The IAM role "${proxy.roleArn}" does not exist in account ${dir.accountId}. Create it, or give the proxy an existing role (RoleArn).`);
    }
    const analysis = this.deps.iam.authorizeService({
      service: RDS_SERVICE_PRINCIPAL,
      account: proxy.account,
      action: 'sts:AssumeRole',
      resource: role.arn,
      context: { 'aws:SourceAccount': proxy.account, 'aws:SourceArn': proxy.proxyArn },
      resourcePolicies: [{ label: `${role.arn}:trust`, policy: dir.trustPolicyOf(role.roleName) }],
    });
    if (analysis.decision !== 'allowed' || !resourcePolicyAllows(analysis)) {
      const how =
        analysis.decision === 'explicitDeny'
          ? `its trust policy denies ${RDS_SERVICE_PRINCIPAL} sts:AssumeRole`
          : `its trust policy must allow the service principal ${RDS_SERVICE_PRINCIPAL} to perform sts:AssumeRole`;
      throw new Refused('RoleNotTrustedByRds', `The IAM role "${role.arn}" can't be assumed by RDS Proxy: ${how}.`, statements(analysis));
    }
    const sessionName = proxy.proxyName;
    const now = (this.deps.clock ?? systemClock).now();
    return {
      arn: `arn:${proxy.partition}:sts::${dir.accountId}:assumed-role/${role.roleName}/${sessionName}`,
      accountId: dir.accountId,
      type: 'assumed-role',
      name: sessionName,
      userId: `${role.roleId}:${sessionName}`,
      roleName: role.roleName,
      sessionName,
      session: { via: 'AssumeRole', issuedAt: now, expiresAt: now + 3_600_000 },
    };
  }

  /** The context keys of an SDK call the proxy makes with its role session. */
  #callContext(proxy: ProxyAuthInput, extra: RequestContext): RequestContext {
    return { 'aws:SecureTransport': true, 'aws:RequestedRegion': proxy.region, ...extra };
  }

  /** Step 3: GetSecretValue is authorized, then the secret must exist (AWS answers AccessDenied first). */
  async #authorizedSecret(proxy: ProxyAuthInput, session: ResolvedPrincipal, secretId: string): Promise<SecretRecord> {
    let rec: SecretRecord | undefined;
    try {
      rec = await this.deps.secrets.find(secretId);
    } catch (err) {
      if (!isIamdbError(err, 'SM_NOT_FOUND')) throw err;
    }
    const subject = rec ?? { arn: secretId, tags: {} };
    const resourcePolicies = rec !== undefined ? secretResourcePolicies(rec) : undefined;
    const analysis = this.deps.iam.authorizeRequest({
      principal: session,
      action: 'secretsmanager:GetSecretValue',
      resource: subject.arn,
      context: this.#callContext(proxy, secretRequestContext(subject)),
      ...(resourcePolicies ? { resourcePolicies } : {}),
    });
    if ('missingPrincipal' in analysis || analysis.decision !== 'allowed') {
      const why = 'missingPrincipal' in analysis ? 'the role no longer exists' : denialFix(analysis, 'secretsmanager:GetSecretValue', 'on the secret');
      throw new Refused(
        'SecretAccessDenied',
        `Credentials couldn't be retrieved. The IAM role "${proxy.roleArn}" is not authorized to read the AWS Secrets Manager secret with the ARN "${subject.arn}": ${why}.`,
        'missingPrincipal' in analysis ? analysis.message : statements(analysis),
      );
    }
    if (rec === undefined) {
      throw new Refused('SecretNotFound', `The AWS Secrets Manager secret "${secretId}" does not exist. Create it, or register the proxy with an existing secret (Auth SecretArn).`);
    }
    return rec;
  }

  /** Step 4: the value's data key is opened only if the role may kms:Decrypt through Secrets Manager. */
  async #decrypt(proxy: ProxyAuthInput, session: ResolvedPrincipal, rec: SecretRecord, version: SecretVersion): Promise<Buffer> {
    const { keyring } = this.deps;
    const viaService = `secretsmanager.${proxy.region}.amazonaws.com`;
    const dataKeys: DataKeys = {
      generate: () => Promise.reject(new Error('RDS Proxy never writes secrets')),
      open: async (encrypted, encryptionContext) => {
        const key = await keyring.keyOfCiphertext(encrypted);
        const analysis = this.deps.iam.authorizeRequest({
          principal: session,
          action: 'kms:Decrypt',
          resource: key.arn,
          context: this.#callContext(proxy, keyUseContext(session.accountId, { encryptionContext, viaService })),
          resourcePolicies: keyPolicyInputs(keyring, key),
        });
        if ('missingPrincipal' in analysis) throw new Refused('KmsDecryptDenied', `The IAM role "${proxy.roleArn}" no longer exists.`, analysis.message);
        if (analysis.decision !== 'allowed' || !resourcePolicyAllows(analysis)) throw keyRefusal(proxy, rec, key, analysis, viaService);
        try {
          return (await keyring.decrypt(encrypted, encryptionContext)).plaintext;
        } catch (err) {
          if (isIamdbError(err, 'KMS_DISABLED') || isIamdbError(err, 'KMS_INVALID_STATE')) {
            throw new Refused('KmsKeyUnusable', `The AWS KMS key "${key.arn}" that encrypts the secret "${rec.arn}" is ${key.keyState === 'Disabled' ? 'disabled' : 'pending deletion'}. Enable it, or re-encrypt the secret under a usable key.`);
          }
          throw err;
        }
      },
    };
    return this.deps.secrets.open(rec, version, dataKeys);
  }
}

/** Everything of a proxy and an auth entry that an outcome depends on. */
function cacheKey(proxy: ProxyAuthInput, entry: ProxyAuthEntry): string {
  return JSON.stringify([proxy.proxyArn, proxy.proxyName, proxy.roleArn, proxy.region, proxy.account, proxy.partition, entry.secretArn, entry.userName ?? null]);
}

/** The AWSCURRENT version, or why there is none to read. */
function currentVersion(rec: SecretRecord, proxy: ProxyAuthInput): SecretVersion {
  if (rec.deletedDate !== undefined) {
    throw new Refused('SecretUnavailable', `The AWS Secrets Manager secret "${rec.arn}" is scheduled for deletion. Restore it (RestoreSecret), or register proxy ${proxy.proxyName} with another secret.`);
  }
  const v = rec.versions.find((x) => x.stages.includes('AWSCURRENT'));
  if (v === undefined) throw new Refused('SecretUnavailable', `The AWS Secrets Manager secret "${rec.arn}" has no AWSCURRENT value. Store one with PutSecretValue.`);
  return v;
}

const VALUE_FORMAT = 'a JSON object with string fields "username" and "password"';

/** Step 5: `{"username","password"}`; nothing of the value ever reaches a message. */
function parseCredentials(value: Buffer, version: SecretVersion, arn: string, entry: ProxyAuthEntry): { username: string; password: Secret<string> } {
  const invalid = (what: string): Refused => new Refused('SecretValueInvalid', `The AWS Secrets Manager secret "${arn}" ${what}. RDS Proxy reads ${VALUE_FORMAT} from its SecretString.`);
  try {
    if (version.kind !== 'string') throw invalid('holds a SecretBinary');
    let doc: unknown;
    try {
      doc = JSON.parse(value.toString('utf8'));
    } catch {
      // The parser's message quotes the text: never pass it on.
      throw invalid('does not hold JSON');
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('does not hold a JSON object');
    const { username, password } = doc as Record<string, unknown>;
    if (typeof username !== 'string' || username === '') throw invalid('has no "username" string');
    if (typeof password !== 'string') throw invalid('has no "password" string');
    if (entry.userName !== undefined && entry.userName !== username) throw invalid(`names the user "${username}", not "${entry.userName}" as the proxy's Auth UserName says`);
    return { username, password: new Secret(password) };
  } finally {
    value.fill(0);
  }
}

/** Where a denial came from and what to change, for a role's request `action` `where`. */
function denialFix(a: Analysis, action: string, where: string): string {
  if (a.decision === 'explicitDeny') {
    const by = { identity: "the role's policies", resource: "the secret's resource policy", boundary: "the role's permissions boundary", session: 'a session policy' }[a.deniedBy ?? 'identity'];
    return `an explicit deny in ${by} refuses ${action}`;
  }
  if (a.deniedBy === 'boundary') return `the role's permissions boundary does not allow ${action} ${where}`;
  return `allow ${action} ${where} in the role's policies`;
}

function keyRefusal(proxy: ProxyAuthInput, rec: SecretRecord, key: KmsKey, a: Analysis, viaService: string): Refused {
  const head = `Credentials couldn't be retrieved. The IAM role "${proxy.roleArn}" can't decrypt the AWS Secrets Manager secret "${rec.arn}" with the AWS KMS key "${key.arn}"`;
  let fix: string;
  if (a.decision === 'explicitDeny' && a.deniedBy === 'resource') fix = 'the key policy explicitly denies kms:Decrypt';
  else if (!resourcePolicyAllows(a)) fix = 'the key policy must allow kms:Decrypt to the role, or to the account so that the role\'s policies decide';
  else fix = `${denialFix(a, 'kms:Decrypt', 'on the key')} (with kms:ViaService = ${viaService} if you restrict it)`;
  return new Refused('KmsDecryptDenied', `${head}: ${fix}.`, statements(a));
}

/** The statements that decided, for the audit log. */
function statements(a: Analysis): string {
  const list = a.matchedStatements.map((m) => `${m.source}#${m.index}${m.sid ? `(${m.sid})` : ''}:${m.effect}`);
  return `${a.decision}${a.deniedBy ? ` by ${a.deniedBy}` : ''}; statements: ${list.length > 0 ? list.join(', ') : 'none'}`;
}
