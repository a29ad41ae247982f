import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { formatAmzDate } from './amz-date.js';
import { canonicalQueryString } from './canonical-query.js';
import { canonicalRequest } from './canonical-request.js';
import {
  ALGORITHM,
  CONNECT_ACTION,
  MAX_EXPIRES_SECONDS,
  QUERY_KEYS,
  RDS_DB_SERVICE,
  SIGNED_HEADERS,
} from './constants.js';
import { credentialScope } from './credential-scope.js';
import { hostSyntaxProblem } from './host-syntax.js';
import { signatureHex } from './signature.js';
import { deriveSigningKey } from './signing-key.js';
import { stringToSign } from './string-to-sign.js';

/** Credentials that sign a token. Secrets stay wrapped until the HMAC. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: Secret<string>;
  /** Present for temporary (STS) credentials; signed as X-Amz-Security-Token. */
  readonly sessionToken?: Secret<string> | undefined;
}

/** What presignDbAuthToken needs; the time is a parameter, never the wall clock. */
export interface PresignDbAuthTokenInput {
  /** Endpoint host name, signed as written (case kept), like @aws-sdk/rds-signer. */
  readonly hostname: string;
  readonly port: number;
  /** The database user; becomes `DBUser`. */
  readonly username: string;
  readonly region: string;
  readonly credentials: SigningCredentials;
  /** Signing instant; milliseconds are dropped. */
  readonly date: Date;
  /** Seconds the token lives, 1..900; default 900. */
  readonly expiresIn?: number | undefined;
  /**
   * Key order of the output: 'sdk-js' (default) sorts X-Amz-Signature in
   * with the other keys as @aws-sdk/rds-signer does; 'aws-cli' appends it
   * last, as `aws rds generate-db-auth-token` (botocore) prints it. Both
   * verify the same: only the text differs.
   */
  readonly keyOrder?: 'sdk-js' | 'aws-cli' | undefined;
}

function invalid(reason: string): IamdbError {
  return new IamdbError('SIGV4_INVALID_INPUT', { reason });
}

/**
 * Makes an RDS IAM auth token, byte for byte what @aws-sdk/rds-signer makes
 * for the same inputs and instant: `<host>:<port>/?<query>` with every query
 * key sorted (X-Amz-Signature among them) and `host:port` as the signed host.
 *
 * @example
 *   const token = presignDbAuthToken({
 *     hostname: 'db.example.test', port: 5432, username: 'alice', region: 'us-east-1',
 *     credentials: { accessKeyId: 'AKIA…', secretAccessKey: new Secret('…') },
 *     date: new Date(),
 *   });
 *   token.reveal(); // 'db.example.test:5432/?Action=connect&DBUser=alice&…'
 */
export function presignDbAuthToken(input: PresignDbAuthTokenInput): Secret<string> {
  const { hostname, port, username, region, credentials, date } = input;
  const expiresIn = input.expiresIn ?? MAX_EXPIRES_SECONDS;
  const hostProblem = hostSyntaxProblem(hostname);
  if (hostProblem !== undefined) throw invalid(`hostname is ${hostProblem}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalid('port must be an integer from 1 to 65535');
  if (username.length === 0) throw invalid('username is empty');
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw invalid('region must be lowercase letters, digits and "-"');
  if (!/^\w{1,128}$/.test(credentials.accessKeyId)) throw invalid('access key id must be 1 to 128 letters or digits');
  if (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_EXPIRES_SECONDS) {
    throw invalid(`expiresIn must be an integer from 1 to ${MAX_EXPIRES_SECONDS}`);
  }
  if (!(date instanceof Date) || !Number.isFinite(date.getTime())) throw invalid('date is not a valid Date');

  const amzDate = formatAmzDate(date);
  const shortDate = amzDate.slice(0, 8);
  const scope = credentialScope(shortDate, region, RDS_DB_SERVICE);
  const params: Array<[string, string]> = [
    [QUERY_KEYS.action, CONNECT_ACTION],
    [QUERY_KEYS.dbUser, username],
    [QUERY_KEYS.algorithm, ALGORITHM],
    [QUERY_KEYS.credential, `${credentials.accessKeyId}/${scope}`],
    [QUERY_KEYS.date, amzDate],
    [QUERY_KEYS.expires, String(expiresIn)],
    [QUERY_KEYS.signedHeaders, SIGNED_HEADERS],
  ];
  if (credentials.sessionToken !== undefined) {
    params.push([QUERY_KEYS.securityToken, credentials.sessionToken.reveal()]);
  }
  const signedHost = `${hostname}:${port}`;
  const query = canonicalQueryString(params);
  const key = deriveSigningKey(credentials.secretAccessKey, shortDate, region, RDS_DB_SERVICE);
  const signature = signatureHex(key, stringToSign(amzDate, scope, canonicalRequest(query, signedHost)));
  // rds-signer sorts the signature in with the other keys; doing the same keeps
  // our tokens byte-identical to AWS's JS SDK.
  if (input.keyOrder === 'aws-cli') {
    return new Secret(`${signedHost}/?${query}&${QUERY_KEYS.signature}=${signature}`);
  }
  const withSignature = canonicalQueryString([...params, [QUERY_KEYS.signature, signature]]);
  return new Secret(`${signedHost}/?${withSignature}`);
}
