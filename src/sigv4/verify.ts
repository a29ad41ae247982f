import { IamdbError } from '../errors/index.js';
import { constantTimeEqual, type Secret } from '../util/index.js';
import { canonicalRequest } from './canonical-request.js';
import {
  DEFAULT_FUTURE_SKEW_MS,
  DEFAULT_PORTS,
  MAX_EXPIRES_SECONDS,
  RDS_DB_SERVICE,
} from './constants.js';
import { credentialScope } from './credential-scope.js';
import { hmacSha256 } from './hash.js';
import { parseDbAuthToken, type ParsedDbAuthToken } from './parse-token.js';
import { asciiLower, signedHostCandidates } from './signed-host.js';
import { SigningKeyCache } from './signing-key.js';
import { stringToSign } from './string-to-sign.js';

/** One name (or alias) and port a listener answers on. */
export interface DbEndpoint {
  readonly host: string;
  readonly port: number;
}

/** What resolveCredential hands back for an active access key. */
export interface ResolvedCredential<P> {
  readonly secretAccessKey: Secret<string>;
  readonly principal: P;
}

/** Everything verifyDbAuthToken needs besides the token. */
export interface VerifyDbAuthTokenContext<P> {
  /** The user from the StartupMessage / HandshakeResponse41; DBUser must equal it byte for byte. */
  readonly loginUser: string;
  /** The region this listener's instance lives in. */
  readonly region: string;
  /** This listener's names and aliases; the token's host must be one (case-insensitive), port exact. */
  readonly endpoints: ReadonlyArray<DbEndpoint>;
  /** Current time, epoch milliseconds (from an injected Clock). */
  readonly now: number;
  /** How far in the future a token may be dated; default 5 minutes. */
  readonly futureSkewMs?: number | undefined;
  /**
   * Ports a token that names no port may stand for (see README "Omitted
   * port"); default DEFAULT_PORTS (443, 3306, 5432).
   */
  readonly portlessPorts?: readonly number[] | undefined;
  /** Signing-key cache to use; default one shared by this module. */
  readonly signingKeyCache?: SigningKeyCache | undefined;
  /**
   * Looks the key up. It throws its own IamdbError for an unknown or inactive
   * key or a dead session; verify lets that error through unchanged and never
   * falls back to another identity.
   */
  resolveCredential(accessKeyId: string, securityToken: Secret<string> | undefined): Promise<ResolvedCredential<P>>;
}

/** A token that passed every check. Times are epoch milliseconds. */
export interface VerifiedDbAuthToken<P> {
  readonly accessKeyId: string;
  readonly dbUser: string;
  readonly principal: P;
  /** X-Amz-Date. */
  readonly issuedAt: number;
  /** issuedAt + min(X-Amz-Expires, 900) s; the token is good up to and including this instant. */
  readonly expiresAt: number;
  /** True when the token carried X-Amz-Security-Token (temporary credentials). */
  readonly usedSessionToken: boolean;
  /** The endpoint of ctx.endpoints the token matched. */
  readonly endpoint: DbEndpoint;
}

// Shared default so that, without any wiring, repeated logins by one caller
// reuse signing keys. Bounded, keyed by a hash of the secret.
const defaultCache = new SigningKeyCache();

/**
 * The endpoint a parsed token is bound to, or undefined. Hosts compare
 * ASCII-case-insensitively and exactly otherwise (a trailing dot is a
 * different name); ports compare exactly. A token without a port matches an
 * endpoint whose host matches and whose port is one of `portlessPorts`.
 *
 * @example matchEndpoint(parsed, [{ host: 'db.example.test', port: 5432 }])
 */
export function matchEndpoint(
  parsed: Pick<ParsedDbAuthToken, 'host' | 'port'>,
  endpoints: ReadonlyArray<DbEndpoint>,
  portlessPorts: readonly number[] = DEFAULT_PORTS,
): DbEndpoint | undefined {
  const host = asciiLower(parsed.host);
  return endpoints.find(
    (e) =>
      asciiLower(e.host) === host && (parsed.port === undefined ? portlessPorts.includes(e.port) : e.port === parsed.port),
  );
}

/**
 * Verifies an RDS IAM auth token for one login, in this order: strict parse;
 * DBUser equals the login user; scope service is `rds-db`; scope region is
 * ctx.region; host:port is one of ctx.endpoints; not expired
 * (`now > date + min(Expires, 900) s`) and not dated beyond the skew; the
 * credential resolves; the signature matches (constant-time). The first
 * failing check throws its own `AUTH_TOKEN_*` IamdbError, whose `audit`
 * field is the precise reason; errors from resolveCredential pass through.
 *
 * @example
 *   const v = await verifyDbAuthToken(token, {
 *     loginUser: 'alice', region: 'us-east-1', now: clock.now(),
 *     endpoints: [{ host: 'db.example.test', port: 5432 }],
 *     resolveCredential: (akid, session) => keys.resolve(akid, session),
 *   });
 *   v.principal;
 */
export async function verifyDbAuthToken<P>(token: string, ctx: VerifyDbAuthTokenContext<P>): Promise<VerifiedDbAuthToken<P>> {
  const parsed = parseDbAuthToken(token);

  if (parsed.dbUser !== ctx.loginUser) throw new IamdbError('AUTH_TOKEN_DBUSER_MISMATCH');
  if (parsed.scope.service !== RDS_DB_SERVICE) {
    throw new IamdbError('AUTH_TOKEN_WRONG_SERVICE', { service: parsed.scope.service });
  }
  if (parsed.scope.region !== ctx.region) {
    throw new IamdbError('AUTH_TOKEN_WRONG_REGION', { region: parsed.scope.region, expected: ctx.region });
  }
  const endpoint = matchEndpoint(parsed, ctx.endpoints, ctx.portlessPorts ?? DEFAULT_PORTS);
  if (endpoint === undefined) throw new IamdbError('AUTH_TOKEN_WRONG_ENDPOINT', { endpoint: parsed.signedHost });

  const skew = ctx.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS;
  if (!Number.isFinite(skew) || skew < 0) {
    throw new IamdbError('SIGV4_INVALID_INPUT', { reason: 'futureSkewMs must be a finite number >= 0' });
  }
  // NaN would make both time comparisons false and let any token through.
  if (!Number.isFinite(ctx.now)) throw new IamdbError('SIGV4_INVALID_INPUT', { reason: 'now must be a finite number' });
  const issuedAt = parsed.dateMs;
  const expiresAt = issuedAt + Math.min(parsed.expiresSeconds, MAX_EXPIRES_SECONDS) * 1000;
  if (ctx.now > expiresAt) throw new IamdbError('AUTH_TOKEN_EXPIRED', { at: new Date(expiresAt).toISOString() });
  if (issuedAt > ctx.now + skew) {
    throw new IamdbError('AUTH_TOKEN_NOT_YET_VALID', {
      at: new Date(issuedAt).toISOString(),
      skewSeconds: Math.floor(skew / 1000),
    });
  }

  const { secretAccessKey, principal } = await ctx.resolveCredential(parsed.accessKeyId, parsed.securityToken);

  const cache = ctx.signingKeyCache ?? defaultCache;
  const key = cache.get(secretAccessKey, parsed.scope.date, parsed.scope.region, parsed.scope.service);
  const scope = credentialScope(parsed.scope.date, parsed.scope.region, parsed.scope.service);
  const query = parsed.canonicalQuery.reveal();
  const presented = Buffer.from(parsed.signature.reveal(), 'hex');
  let match = false;
  for (const signedHost of signedHostCandidates(parsed)) {
    const expected = hmacSha256(key, stringToSign(parsed.amzDate, scope, canonicalRequest(query, signedHost)));
    // Non-short-circuit OR: every candidate is compared.
    match = constantTimeEqual(expected, presented) || match;
  }
  if (!match) throw new IamdbError('AUTH_TOKEN_SIGNATURE_MISMATCH');

  return Object.freeze({
    accessKeyId: parsed.accessKeyId,
    dbUser: parsed.dbUser,
    principal,
    issuedAt,
    expiresAt,
    usedSessionToken: parsed.securityToken !== undefined,
    endpoint,
  });
}
