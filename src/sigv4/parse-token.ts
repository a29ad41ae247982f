import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { parseAmzDate } from './amz-date.js';
import { canonicalQueryString } from './canonical-query.js';
import {
  ALGORITHM,
  ALLOWED_QUERY_KEYS,
  CONNECT_ACTION,
  MAX_EXPIRES_SECONDS,
  MAX_TOKEN_LENGTH,
  QUERY_KEYS,
  REQUIRED_QUERY_KEYS,
  SCOPE_TERMINATOR,
  SIGNED_HEADERS,
} from './constants.js';
import { hostSyntaxProblem } from './host-syntax.js';

/** The credential scope named by a token's X-Amz-Credential. */
export interface TokenScope {
  /** `YYYYMMDD`, equal to the first 8 characters of X-Amz-Date. */
  readonly date: string;
  readonly region: string;
  /** Checked against `rds-db` by verify, not by the parser. */
  readonly service: string;
}

/**
 * One strictly parsed token. Signature checking and authorisation both use
 * this one object, so they can never disagree about what the token says.
 */
export interface ParsedDbAuthToken {
  /** Host as written and signed (case kept). Compare case-insensitively. */
  readonly host: string;
  /** The port, or undefined when the token names none (see README). */
  readonly port: number | undefined;
  /** The bytes after `host:` in the canonical request: `host` or `host:port` as written. */
  readonly signedHost: string;
  /** Decoded DBUser. */
  readonly dbUser: string;
  readonly accessKeyId: string;
  readonly scope: TokenScope;
  /** X-Amz-Date as written, `YYYYMMDDTHHMMSSZ`. */
  readonly amzDate: string;
  /** X-Amz-Date in epoch milliseconds. */
  readonly dateMs: number;
  /** X-Amz-Expires, 1..900. */
  readonly expiresSeconds: number;
  /** X-Amz-Security-Token of temporary credentials. */
  readonly securityToken: Secret<string> | undefined;
  /** X-Amz-Signature, 64 lowercase hex. Together with the rest it is the password. */
  readonly signature: Secret<string>;
  /**
   * The canonical query rebuilt from the decoded values (every key but the
   * signature, sorted, RFC 3986-encoded). Secret because it holds the
   * security token.
   */
  readonly canonicalQuery: Secret<string>;
}

// Printable ASCII that may stand raw in a query component. '+' (space or
// plus?), '#', '&' and '%' are handled apart; '=' is allowed in values because
// only the first '=' splits a parameter.
function isRawAllowed(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x2b /* + */ && c !== 0x23 /* # */;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

// fatal: reject invalid, overlong and surrogate encodings instead of mapping
// them to U+FFFD; ignoreBOM: keep a leading U+FEFF so it is signed as sent.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// C0 controls, DEL and C1 controls: none has a place in a user name, a key id
// or a session token, and CR/LF or NUL could split log lines or C strings.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function badEncoding(reason: string, offset: number): IamdbError {
  return new IamdbError('AUTH_TOKEN_BAD_ENCODING', { reason, offset });
}

/** Strict RFC 3986 percent-decoding of one query component. */
function decodeComponent(text: string, offset: number): string {
  // Most components (keys, dates, the signature) hold only characters that
  // stand for themselves: the text is its own decoding, printable ASCII with
  // no control character, so the byte loop and UTF-8 check can be skipped.
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 /* % */ || !isRawAllowed(c)) {
      plain = false;
      break;
    }
  }
  if (plain) return text;
  const bytes = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 /* % */) {
      if (i + 2 >= text.length) throw badEncoding('a "%" cut short at the end of a component', offset + i);
      const hi = hexValue(text.charCodeAt(i + 1));
      const lo = hexValue(text.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw badEncoding('a "%" not followed by two hex digits', offset + i);
      bytes[n++] = (hi << 4) | lo;
      i += 2;
    } else if (c === 0x2b) {
      throw badEncoding('a raw "+" (write a space as %20 and a plus as %2B)', offset + i);
    } else if (c < 0x20 || c === 0x7f) {
      throw new IamdbError('AUTH_TOKEN_CONTROL_CHARACTER', { codePoint: c.toString(16).toUpperCase().padStart(4, '0') });
    } else if (!isRawAllowed(c)) {
      throw badEncoding(c > 0x7f ? 'a raw non-ASCII character' : 'a character that must be percent-encoded', offset + i);
    } else {
      bytes[n++] = c;
    }
  }
  let decoded: string;
  try {
    decoded = utf8.decode(bytes.subarray(0, n));
  } catch {
    throw badEncoding('percent-escapes that are not valid UTF-8', offset);
  }
  const control = CONTROL.exec(decoded);
  if (control !== null) {
    throw new IamdbError('AUTH_TOKEN_CONTROL_CHARACTER', {
      codePoint: control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'),
    });
  }
  return decoded;
}

// Keys echoed in messages are attacker-chosen: keep them short.
function shown(key: string): string {
  return key.length > 40 ? `${key.slice(0, 40)}…` : key;
}

function parseAuthority(authority: string): { host: string; port: number | undefined } {
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) throw new IamdbError('AUTH_TOKEN_BAD_HOST', { reason: 'unclosed IPv6 literal' });
    host = authority.slice(0, close + 1);
    const rest = authority.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) throw new IamdbError('AUTH_TOKEN_BAD_HOST', { reason: 'text after the IPv6 literal' });
      portText = rest.slice(1);
    }
  } else {
    const colon = authority.indexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
  }
  const problem = hostSyntaxProblem(host);
  if (problem !== undefined) throw new IamdbError('AUTH_TOKEN_BAD_HOST', { reason: problem });
  if (portText === undefined) return { host, port: undefined };
  // Canonical decimal only: no sign, space, leading zero or exponent. The
  // port text is signed as written, so one port has one spelling.
  if (!/^[1-9][0-9]{0,4}$/.test(portText)) throw new IamdbError('AUTH_TOKEN_BAD_PORT');
  const port = Number(portText);
  if (port > 65535) throw new IamdbError('AUTH_TOKEN_BAD_PORT');
  return { host, port };
}

function parseExpires(text: string): number {
  const max = MAX_EXPIRES_SECONDS;
  if (/^-[0-9]+$/.test(text)) throw new IamdbError('AUTH_TOKEN_EXPIRES_NEGATIVE', { max });
  if (!/^[0-9]+$/.test(text)) throw new IamdbError('AUTH_TOKEN_EXPIRES_NOT_INTEGER', { max });
  if (/^0+$/.test(text)) throw new IamdbError('AUTH_TOKEN_EXPIRES_ZERO', { max });
  // The value is signed as written: allow only one spelling of each number.
  if (text.startsWith('0')) throw new IamdbError('AUTH_TOKEN_EXPIRES_NOT_INTEGER', { max });
  if (text.length > 3 || Number(text) > max) throw new IamdbError('AUTH_TOKEN_EXPIRES_TOO_LONG', { max });
  return Number(text);
}

function parseCredential(value: string): { accessKeyId: string; scope: TokenScope } {
  const bad = (reason: string): IamdbError => new IamdbError('AUTH_TOKEN_BAD_CREDENTIAL', { reason });
  const parts = value.split('/');
  if (parts.length !== 5) throw bad(`it has ${parts.length} parts, not 5`);
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (!/^\w{1,128}$/.test(accessKeyId)) throw bad('the access key id is not 1 to 128 letters, digits or "_"');
  if (!/^[0-9]{8}$/.test(date)) throw bad('the scope date is not YYYYMMDD');
  if (!/^[a-z0-9-]{1,64}$/.test(region)) throw bad('the region is not lowercase letters, digits and "-"');
  if (!/^[a-z0-9-]{1,64}$/.test(service)) throw bad('the service is not lowercase letters, digits and "-"');
  if (terminator !== SCOPE_TERMINATOR) throw bad(`the last part is not ${SCOPE_TERMINATOR}`);
  return { accessKeyId, scope: Object.freeze({ date, region, service }) };
}

/**
 * Parses an RDS IAM auth token strictly: `<host>[:<port>]/?<query>`, the path
 * exactly `/`, parameters split on `&` and the first `=`, each component
 * strictly percent-decoded (no raw `+`, bad or truncated `%`, invalid or
 * overlong UTF-8, control characters), only the nine known keys, each at most
 * once, and every field checked for form. It does no cryptography and reads
 * no clock: expiry, endpoint, region, service, user and signature are verify's.
 *
 * Tokens longer than MAX_TOKEN_LENGTH are refused before anything else.
 * Errors are IamdbError codes `AUTH_TOKEN_*` of kind InvalidInput; none quotes
 * the token.
 *
 * @example
 *   const t = parseDbAuthToken('db.example.test:5432/?Action=connect&DBUser=alice&…');
 *   t.dbUser; // 'alice'
 */
export function parseDbAuthToken(token: string): ParsedDbAuthToken {
  if (typeof token !== 'string') throw new IamdbError('AUTH_TOKEN_BAD_LAYOUT', { reason: 'not a string' });
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new IamdbError('AUTH_TOKEN_TOO_LONG', { length: token.length, max: MAX_TOKEN_LENGTH });
  }
  const slash = token.indexOf('/');
  if (slash < 0) throw new IamdbError('AUTH_TOKEN_BAD_LAYOUT', { reason: 'no "/?" after the host' });
  if (token.charCodeAt(slash + 1) !== 0x3f /* ? */) {
    throw new IamdbError('AUTH_TOKEN_BAD_LAYOUT', { reason: 'the path must be exactly "/" followed by "?"' });
  }
  const authority = token.slice(0, slash);
  const { host, port } = parseAuthority(authority);

  const queryStart = slash + 2;
  const query = token.slice(queryStart);
  const values = new Map<string, string>();
  const params: Array<[string, string]> = [];
  let offset = queryStart;
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    const key = decodeComponent(rawKey, offset);
    if (key.length === 0) throw new IamdbError('AUTH_TOKEN_EMPTY_KEY');
    if (!ALLOWED_QUERY_KEYS.has(key)) throw new IamdbError('AUTH_TOKEN_UNKNOWN_KEY', { key: shown(key) });
    if (values.has(key)) throw new IamdbError('AUTH_TOKEN_DUPLICATE_KEY', { key });
    const value = decodeComponent(rawValue, offset + rawKey.length + 1);
    if (value.length === 0) throw new IamdbError('AUTH_TOKEN_EMPTY_VALUE', { key });
    values.set(key, value);
    if (key !== QUERY_KEYS.signature) params.push([key, value]);
    offset += part.length + 1;
  }
  for (const key of REQUIRED_QUERY_KEYS) {
    if (!values.has(key)) throw new IamdbError('AUTH_TOKEN_MISSING_KEY', { key });
  }
  // Present by the loop above; `?? ''` only satisfies the type checker.
  const get = (key: string): string => values.get(key) ?? '';

  if (get(QUERY_KEYS.action) !== CONNECT_ACTION) throw new IamdbError('AUTH_TOKEN_BAD_ACTION');
  if (get(QUERY_KEYS.algorithm) !== ALGORITHM) throw new IamdbError('AUTH_TOKEN_BAD_ALGORITHM');
  if (get(QUERY_KEYS.signedHeaders) !== SIGNED_HEADERS) throw new IamdbError('AUTH_TOKEN_BAD_SIGNED_HEADERS');
  const { accessKeyId, scope } = parseCredential(get(QUERY_KEYS.credential));
  const amzDate = get(QUERY_KEYS.date);
  const dateMs = parseAmzDate(amzDate);
  if (dateMs === undefined) throw new IamdbError('AUTH_TOKEN_BAD_DATE');
  if (scope.date !== amzDate.slice(0, 8)) throw new IamdbError('AUTH_TOKEN_SCOPE_DATE_MISMATCH');
  const expiresSeconds = parseExpires(get(QUERY_KEYS.expires));
  const signature = get(QUERY_KEYS.signature);
  if (!/^[0-9a-f]{64}$/.test(signature)) throw new IamdbError('AUTH_TOKEN_BAD_SIGNATURE_FORMAT');
  const securityToken = values.get(QUERY_KEYS.securityToken);

  return Object.freeze({
    host,
    port,
    signedHost: authority,
    dbUser: get(QUERY_KEYS.dbUser),
    accessKeyId,
    scope,
    amzDate,
    dateMs,
    expiresSeconds,
    securityToken: securityToken === undefined ? undefined : new Secret(securityToken),
    signature: new Secret(signature),
    canonicalQuery: new Secret(canonicalQueryString(params)),
  });
}
