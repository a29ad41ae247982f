/**
 * SigV4 for whole HTTP requests signed in the Authorization header, the way
 * the AWS CLI and SDKs call AWS APIs (IAM, STS, KMS, Secrets Manager, RDS):
 * parse the header, rebuild the canonical request from what arrived, and
 * compare signatures in constant time. Pure: the caller looks up the secret
 * (and checks the session token) between `parseRequestAuthorization` and
 * `requestSignatureMatches`, and maps the typed errors to AWS's error codes.
 *
 * Canonical form (AWS's Signature Version 4 specification, as the SDKs build
 * it for every service but S3): the path with dot segments and empty
 * segments removed, each segment encoded again; the query sorted by encoded
 * name then value; the signed headers lower-cased with values trimmed and
 * inner whitespace collapsed; the hex SHA-256 of the body.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { formatAmzDate, parseAmzDate } from './amz-date.js';
import { canonicalQueryString } from './canonical-query.js';
import { ALGORITHM, SCOPE_TERMINATOR } from './constants.js';
import { credentialScope } from './credential-scope.js';
import { signatureHex } from './signature.js';
import { deriveSigningKey } from './signing-key.js';
import { stringToSign } from './string-to-sign.js';
import { uriEncode } from './uri-encode.js';

export interface SignedHttpRequest {
  readonly method: string;
  /** The path as sent, still percent-encoded, without the query. */
  readonly path: string;
  /** Decoded query parameters, in any order. */
  readonly query: ReadonlyArray<readonly [name: string, value: string]>;
  /** Header values by lower-case name; repeated headers as arrays. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Uint8Array;
}

export interface RequestAuthorization {
  readonly accessKeyId: string;
  /** YYYYMMDD of the credential scope. */
  readonly shortDate: string;
  readonly region: string;
  readonly service: string;
  /** Lower-case, in the order signed (sorted). */
  readonly signedHeaders: readonly string[];
  readonly signature: string;
  /** The request time (ISO 8601 basic), from X-Amz-Date or Date. */
  readonly amzDate: string;
  readonly requestTimeMs: number;
  readonly sessionToken?: Secret<string>;
}

/** How far a request's time may be from ours, either way (AWS: 15 minutes). */
export const MAX_REQUEST_SKEW_MS = 15 * 60 * 1000;

const MAX_AUTHORIZATION_LENGTH = 4096;

function header(req: SignedHttpRequest, name: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(',');
}

function malformed(reason: string): IamdbError {
  return new IamdbError('REQUEST_AUTH_MALFORMED', { reason });
}

/** RFC 1123 `Date` header to ISO 8601 basic, for clients that sign Date instead of X-Amz-Date. */
function dateHeaderToAmzDate(value: string): string | undefined {
  if (!/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(value)) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) return undefined;
  return formatAmzDate(new Date(ms));
}

/**
 * Parses `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
 * Signature=…` and the request time. Throws REQUEST_AUTH_MISSING when there
 * is no Authorization header, REQUEST_AUTH_MALFORMED for anything else amiss.
 */
export function parseRequestAuthorization(req: SignedHttpRequest): RequestAuthorization {
  const value = header(req, 'authorization');
  if (value === undefined || value === '') throw new IamdbError('REQUEST_AUTH_MISSING', {});
  if (value.length > MAX_AUTHORIZATION_LENGTH) throw malformed('the Authorization header is too long');
  if (!value.startsWith(`${ALGORITHM} `)) throw malformed(`the algorithm must be ${ALGORITHM}`);
  const fields = new Map<string, string>();
  for (const part of value.slice(ALGORITHM.length + 1).split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq <= 0) throw malformed('each Authorization component must be name=value');
    const name = p.slice(0, eq);
    if (!['Credential', 'SignedHeaders', 'Signature'].includes(name)) throw malformed(`unknown Authorization component ${name.slice(0, 32)}`);
    if (fields.has(name)) throw malformed(`${name} appears more than once`);
    fields.set(name, p.slice(eq + 1));
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) if (!fields.has(name)) throw malformed(`Authorization lacks ${name}`);

  const credential = fields.get('Credential')!.split('/');
  if (credential.length !== 5 || credential.some((c) => c === '')) throw malformed('Credential must be <key>/<date>/<region>/<service>/aws4_request');
  const [accessKeyId, shortDate, region, service, terminator] = credential as [string, string, string, string, string];
  if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) throw malformed('the access key id is not well formed');
  if (!/^\d{8}$/.test(shortDate)) throw malformed('the credential date must be YYYYMMDD');
  if (!/^[a-z0-9-]{1,64}$/.test(region) || !/^[a-z0-9-]{1,64}$/.test(service)) throw malformed('the credential region or service is not well formed');
  if (terminator !== SCOPE_TERMINATOR) throw malformed(`the credential scope must end in ${SCOPE_TERMINATOR}`);

  const signedHeaders = fields.get('SignedHeaders')!.split(';');
  if (signedHeaders.some((h) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(h))) throw malformed('SignedHeaders must be lower-case header names separated by ;');
  for (let i = 1; i < signedHeaders.length; i++) if (signedHeaders[i - 1]! >= signedHeaders[i]!) throw malformed('SignedHeaders must be sorted and unique');
  if (!signedHeaders.includes('host')) throw malformed('the host header must be signed');
  for (const h of signedHeaders) if (header(req, h) === undefined) throw malformed(`signed header ${h} is missing from the request`);

  const signature = fields.get('Signature')!;
  if (!/^[0-9a-f]{64}$/.test(signature)) throw malformed('Signature must be 64 lower-case hex digits');

  const xAmzDate = header(req, 'x-amz-date');
  const amzDate = xAmzDate ?? dateHeaderToAmzDate(header(req, 'date') ?? '');
  if (amzDate === undefined) throw malformed('the request has no X-Amz-Date or Date header');
  if (!signedHeaders.includes(xAmzDate !== undefined ? 'x-amz-date' : 'date')) throw malformed('the request date header must be signed');
  const requestTimeMs = parseAmzDate(amzDate);
  if (requestTimeMs === undefined) throw malformed('X-Amz-Date must be YYYYMMDDTHHMMSSZ');
  if (amzDate.slice(0, 8) !== shortDate) throw malformed('the credential date is not the request date');

  const token = header(req, 'x-amz-security-token');
  if (token !== undefined && !signedHeaders.includes('x-amz-security-token')) throw malformed('X-Amz-Security-Token must be signed');
  return { accessKeyId, shortDate, region, service, signedHeaders, signature, amzDate, requestTimeMs, ...(token !== undefined ? { sessionToken: new Secret(token) } : {}) };
}

/** Throws REQUEST_EXPIRED when the request time is more than `maxSkewMs` from `nowMs`, either way. */
export function checkRequestTime(auth: RequestAuthorization, nowMs: number, maxSkewMs: number = MAX_REQUEST_SKEW_MS): void {
  if (Math.abs(nowMs - auth.requestTimeMs) > maxSkewMs) {
    throw new IamdbError('REQUEST_EXPIRED', { requestTime: auth.amzDate, serverTime: new Date(nowMs).toISOString() });
  }
}

/** The canonical path: dot and empty segments removed, every segment encoded again. */
export function canonicalRequestPath(rawPath: string): string {
  const segments: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segments.pop();
    else segments.push(s);
  }
  const leading = rawPath.startsWith('/') ? '/' : '';
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return `${leading}${segments.map(uriEncode).join('/')}${trailing}` || '/';
}

/** The canonical request AWS signs for `req` under `auth`'s signed headers. */
export function canonicalHttpRequest(req: SignedHttpRequest, auth: Pick<RequestAuthorization, 'signedHeaders'>): string {
  const headers = auth.signedHeaders.map((name) => {
    const v = req.headers[name];
    const values = v === undefined ? [] : typeof v === 'string' ? [v] : v;
    return `${name}:${values.map((x) => x.trim().replace(/\s+/g, ' ')).join(',')}\n`;
  });
  return [
    req.method.toUpperCase(),
    canonicalRequestPath(req.path),
    canonicalQueryString(req.query),
    headers.join(''),
    auth.signedHeaders.join(';'),
    createHash('sha256').update(req.body).digest('hex'),
  ].join('\n');
}

/** True when `auth.signature` is what `secret` makes of `req`; compared in constant time. */
export function requestSignatureMatches(req: SignedHttpRequest, auth: RequestAuthorization, secret: Secret<string>): boolean {
  const key = deriveSigningKey(secret, auth.shortDate, auth.region, auth.service);
  const expected = signatureHex(key, stringToSign(auth.amzDate, credentialScope(auth.shortDate, auth.region, auth.service), canonicalHttpRequest(req, auth)));
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(auth.signature, 'latin1'));
}

/**
 * Signs a request in the Authorization header, as the SDKs do: `host`,
 * `x-amz-date` and (with temporary credentials) `x-amz-security-token` are
 * signed. Returns the headers to add. iamdb's own CLI uses it to call the
 * control plane's iamdb-only actions, which the AWS CLI does not know.
 */
export function signRequestHeaders(
  req: Omit<SignedHttpRequest, 'headers'> & { readonly host: string },
  credentials: { readonly accessKeyId: string; readonly secretAccessKey: Secret<string>; readonly sessionToken?: Secret<string> },
  scope: { readonly region: string; readonly service: string; readonly date: Date },
  /** More headers to send and sign (lower-case names), e.g. `x-amz-target` for JSON services. */
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const amzDate = formatAmzDate(scope.date);
  const shortDate = amzDate.slice(0, 8);
  const headers: Record<string, string> = { ...extra, host: req.host, 'x-amz-date': amzDate };
  if (credentials.sessionToken !== undefined) headers['x-amz-security-token'] = credentials.sessionToken.reveal();
  const signedHeaders = Object.keys(headers).sort();
  const canonical = canonicalHttpRequest({ ...req, headers }, { signedHeaders });
  const key = deriveSigningKey(credentials.secretAccessKey, shortDate, scope.region, scope.service);
  const signature = signatureHex(key, stringToSign(amzDate, credentialScope(shortDate, scope.region, scope.service), canonical));
  return {
    ...headers,
    authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${credentialScope(shortDate, scope.region, scope.service)}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`,
  };
}
