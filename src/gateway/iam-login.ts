/**
 * The IAM half of a login, shared by both engines: verify the token (SigV4,
 * endpoint, user, time), resolve who signed it, and authorize
 * `rds-db:connect` on the instance's dbuser ARN. Returns a decision with a
 * precise reason for the audit log; engines tell the client only the generic
 * failure their engine would.
 */
import { isIamdbError } from '../errors/index.js';
import { dbUserArn, type DbInstance } from '../rds/index.js';
import type { Clock, Secret } from '../util/index.js';
import type { AuditReason } from '../audit/index.js';
import type { ResolvedPrincipal } from '../iam/resolved-principal.js';

export type { ResolvedPrincipal } from '../iam/resolved-principal.js';

export interface CredentialResolver {
  /** Secret and identity behind an access key; throws IamdbError for unknown, inactive or expired keys. */
  resolve(accessKeyId: string, sessionToken: Secret<string> | undefined): Promise<{ secretAccessKey: Secret<string>; principal: ResolvedPrincipal }>;
}

export interface ConnectAuthorization {
  readonly decision: 'allowed' | 'explicitDeny' | 'implicitDeny';
  readonly matchedStatements: readonly string[];
  readonly message: string;
}

export interface ConnectAuthorizer {
  /**
   * Decides `rds-db:connect` on `resource` for `principal`. `context` holds
   * what only the login knows (source address, instance tags); the
   * authorizer adds the principal's and the clock's keys itself.
   */
  authorize(principal: ResolvedPrincipal, resource: string, context: Readonly<Record<string, string | string[]>>): ConnectAuthorization;
}

export interface TokenVerifier {
  verify(
    token: string,
    ctx: {
      loginUser: string;
      region: string;
      endpoints: ReadonlyArray<{ host: string; port: number }>;
      now: number;
      futureSkewMs: number;
      resolveCredential: CredentialResolver['resolve'];
    },
  ): Promise<{ accessKeyId: string; principal: ResolvedPrincipal }>;
}

export interface IamLoginOutcome {
  readonly ok: boolean;
  readonly reason: AuditReason | string;
  readonly detail?: string;
  readonly principal?: string;
  readonly accessKeyId?: string;
  readonly resource: string;
  readonly matchedStatements?: readonly string[];
}

export interface IamLoginDeps {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly clock: Clock;
  readonly futureSkewMs: number;
  readonly verifier: TokenVerifier;
  readonly credentials: CredentialResolver;
  readonly authorizer: ConnectAuthorizer;
}

/** What a token is checked against and `rds-db:connect` authorized on. */
export type IamLoginTarget = Pick<DbInstance, 'resourceId' | 'endpoints' | 'tags'>;

const ACCESS_KEY_IN_TOKEN = /X-Amz-Credential=([A-Z0-9]{16,128})(?:%2F|\/)/;

export class IamLogin {
  constructor(private readonly deps: IamLoginDeps) {}

  /**
   * Verifies and authorizes one IAM login. Never throws for a bad token.
   * `instance` is what the token is for: an instance, or a proxy (its
   * `prx-…` resource id, its endpoints' names and its tags).
   */
  async authenticate(args: { instance: IamLoginTarget; token: Secret<string>; dbUser: string; sourceIp: string }): Promise<IamLoginOutcome> {
    const { instance, token, dbUser } = args;
    const resource = dbUserArn({ partition: this.deps.partition, region: this.deps.region, account: this.deps.account, resourceId: instance.resourceId, dbUser });
    // The key id is not secret; pulling it out early lets failures name it.
    const accessKeyId = ACCESS_KEY_IN_TOKEN.exec(token.reveal().slice(0, 4096))?.[1];
    let verified: { accessKeyId: string; principal: ResolvedPrincipal };
    try {
      verified = await this.deps.verifier.verify(token.reveal(), {
        loginUser: dbUser,
        region: this.deps.region,
        endpoints: instance.endpoints,
        now: this.deps.clock.now(),
        futureSkewMs: this.deps.futureSkewMs,
        resolveCredential: (id, st) => this.deps.credentials.resolve(id, st),
      });
    } catch (err) {
      if (isIamdbError(err)) {
        return { ok: false, reason: err.audit ?? 'InvalidToken', detail: err.message, resource, ...(accessKeyId ? { accessKeyId } : {}) };
      }
      return { ok: false, reason: 'InternalError', detail: 'token verification failed unexpectedly', resource };
    }
    const principal = verified.principal;
    // The authorizer adds the principal keys (aws:username, aws:PrincipalArn, …) and the time keys
    // (aws:CurrentTime, aws:EpochTime, aws:TokenIssueTime), the same way for the gateway and the API.
    const context: Record<string, string | string[]> = {
      'aws:SourceIp': args.sourceIp,
      'aws:SecureTransport': 'true',
      'aws:RequestedRegion': this.deps.region,
    };
    for (const [k, v] of Object.entries(instance.tags)) context[`aws:ResourceTag/${k}`] = v;
    const decision = this.deps.authorizer.authorize(principal, resource, context);
    const base = { principal: principal.arn, accessKeyId: verified.accessKeyId, resource, matchedStatements: decision.matchedStatements };
    if (decision.decision === 'allowed') return { ok: true, reason: 'Allowed', ...base };
    return { ok: false, reason: decision.decision === 'explicitDeny' ? 'ExplicitDeny' : 'NotAuthorized', detail: decision.message, ...base };
  }
}
