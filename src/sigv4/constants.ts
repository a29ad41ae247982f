/**
 * Fixed names and limits of SigV4 query presigning as RDS IAM auth tokens use
 * it. Everything spelled the AWS way lives here so no other file types an
 * `X-Amz-*` string by hand.
 *
 * @see /work/shared/REFERENCE.md §1.2–1.3
 */

/** The only signing algorithm a token may name. */
export const ALGORITHM = 'AWS4-HMAC-SHA256';

/** The signing service of RDS IAM database authentication. */
export const RDS_DB_SERVICE = 'rds-db';

/** Last element of every SigV4 credential scope. */
export const SCOPE_TERMINATOR = 'aws4_request';

/** The only value `Action` may take. */
export const CONNECT_ACTION = 'connect';

/** Tokens sign exactly one header, `host`. */
export const SIGNED_HEADERS = 'host';

/** The HTTP method of the presigned request a token stands for. */
export const METHOD = 'GET';

/** The path of the presigned request a token stands for. */
export const PATH = '/';

/**
 * hex(SHA-256("")): a token signs an empty body. `UNSIGNED-PAYLOAD` is never
 * accepted, as on RDS.
 */
export const EMPTY_PAYLOAD_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** RDS refuses tokens older than 15 minutes whatever `X-Amz-Expires` says. */
export const MAX_EXPIRES_SECONDS = 900;

/** Default clock skew tolerated for a token dated in the future (5 min). */
export const DEFAULT_FUTURE_SKEW_MS = 5 * 60 * 1000;

/**
 * Longest token we look at. Real tokens are about 900 B, or 2–4 KB with a
 * session token; anything longer is refused before any parsing work.
 */
export const MAX_TOKEN_LENGTH = 8192;

/**
 * Ports a token may leave out of its signed host. A portless token matches an
 * endpoint with the same host only when that endpoint listens on one of these
 * (see README "Omitted port").
 */
export const DEFAULT_PORTS: readonly number[] = Object.freeze([443, 3306, 5432]);

/**
 * botocore drops `:443` from the host it signs (the HTTPS default) while
 * keeping it in the URL; a token on this port is also checked against the
 * portless signed host.
 */
export const HTTPS_DEFAULT_PORT = 443;

/** The query keys of a token, by role. Matching is case-sensitive. */
export const QUERY_KEYS = Object.freeze({
  action: 'Action',
  dbUser: 'DBUser',
  algorithm: 'X-Amz-Algorithm',
  credential: 'X-Amz-Credential',
  date: 'X-Amz-Date',
  expires: 'X-Amz-Expires',
  securityToken: 'X-Amz-Security-Token',
  signedHeaders: 'X-Amz-SignedHeaders',
  signature: 'X-Amz-Signature',
} as const);

/** One of the nine query keys a token may carry. */
export type QueryKey = (typeof QUERY_KEYS)[keyof typeof QUERY_KEYS];

/** The nine allowed query keys; any other key makes a token invalid. */
export const ALLOWED_QUERY_KEYS: ReadonlySet<string> = new Set<string>(Object.values(QUERY_KEYS));

/** Keys every token must carry (all but the optional security token). */
export const REQUIRED_QUERY_KEYS: readonly QueryKey[] = Object.freeze([
  QUERY_KEYS.action,
  QUERY_KEYS.dbUser,
  QUERY_KEYS.algorithm,
  QUERY_KEYS.credential,
  QUERY_KEYS.date,
  QUERY_KEYS.expires,
  QUERY_KEYS.signedHeaders,
  QUERY_KEYS.signature,
]);
