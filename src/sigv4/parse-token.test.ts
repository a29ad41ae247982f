import { describe, expect, it } from 'vitest';
import { type ErrorCode, IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { MAX_TOKEN_LENGTH } from './constants.js';
import { parseDbAuthToken } from './parse-token.js';
import { presignDbAuthToken } from './presign.js';

// botocore tests/unit/test_signers.py RDS vector, in botocore's key order.
const SIG = 'd1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61';
const HOST = 'prod-instance.us-east-1.rds.amazonaws.com:3306';
const BOTOCORE_PARAMS: Array<[string, string]> = [
  ['Action', 'connect'],
  ['DBUser', 'someusername'],
  ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
  ['X-Amz-Date', '20161107T173933Z'],
  ['X-Amz-SignedHeaders', 'host'],
  ['X-Amz-Expires', '900'],
  ['X-Amz-Credential', 'akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request'],
  ['X-Amz-Signature', SIG],
];

/** A token from raw (already encoded) pairs, with one pair's value replaced, removed or added. */
function token(
  edit: { set?: Record<string, string>; drop?: string[]; add?: Array<[string, string]> } = {},
  host = HOST,
): string {
  const pairs = BOTOCORE_PARAMS.filter(([k]) => !(edit.drop ?? []).includes(k)).map(
    ([k, v]): [string, string] => [k, edit.set?.[k] ?? v],
  );
  return `${host}/?${[...pairs, ...(edit.add ?? [])].map(([k, v]) => `${k}=${v}`).join('&')}`;
}

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(IamdbError);
    return (err as IamdbError).code;
  }
  return undefined;
}

const parseCode = (t: string): ErrorCode | undefined => codeOf(() => parseDbAuthToken(t));

describe('parseDbAuthToken, valid tokens', () => {
  it("reads botocore's RDS vector in botocore's key order", () => {
    const p = parseDbAuthToken(token());
    expect(p.host).toBe('prod-instance.us-east-1.rds.amazonaws.com');
    expect(p.port).toBe(3306);
    expect(p.signedHost).toBe(HOST);
    expect(p.dbUser).toBe('someusername');
    expect(p.accessKeyId).toBe('akid');
    expect(p.scope).toEqual({ date: '20161107', region: 'us-east-1', service: 'rds-db' });
    expect(p.amzDate).toBe('20161107T173933Z');
    expect(p.dateMs).toBe(Date.UTC(2016, 10, 7, 17, 39, 33));
    expect(p.expiresSeconds).toBe(900);
    expect(p.securityToken).toBeUndefined();
    expect(p.signature.reveal()).toBe(SIG);
    expect(p.canonicalQuery.reveal()).toBe(
      'Action=connect&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request' +
        '&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host',
    );
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('rebuilds the same canonical query from equivalent encodings', () => {
    const a = parseDbAuthToken(token());
    // Lowercase hex and a raw '/' are equivalent spellings of the credential.
    const b = parseDbAuthToken(token({ set: { 'X-Amz-Credential': 'akid%2f20161107/us-east-1%2Frds-db%2faws4_request' } }));
    // An unreserved character written as an escape decodes the same.
    const c = parseDbAuthToken(token({ set: { DBUser: '%73omeusername' } }));
    expect(b.canonicalQuery.reveal()).toBe(a.canonicalQuery.reveal());
    expect(c.canonicalQuery.reveal()).toBe(a.canonicalQuery.reveal());
  });

  it('keeps the host case as signed', () => {
    expect(parseDbAuthToken(token({}, 'Prod-Instance.US-EAST-1.rds.amazonaws.com:3306')).host).toBe(
      'Prod-Instance.US-EAST-1.rds.amazonaws.com',
    );
  });

  it('reads a token without a port, signing the bare host', () => {
    const p = parseDbAuthToken(token({}, 'db.example.test'));
    expect(p.port).toBeUndefined();
    expect(p.signedHost).toBe('db.example.test');
  });

  it('reads a bracketed IPv6 host', () => {
    const p = parseDbAuthToken(token({}, '[::1]:5432'));
    expect(p.host).toBe('[::1]');
    expect(p.port).toBe(5432);
  });

  it('decodes UTF-8 in DBUser and keeps the security token secret', () => {
    const t = presignDbAuthToken({
      hostname: 'db',
      port: 5432,
      username: 'José ሴ 😀',
      region: 'us-east-1',
      credentials: { accessKeyId: 'ASIAX', secretAccessKey: new Secret('s'), sessionToken: new Secret('tok+/=') },
      date: new Date('2024-01-01T00:00:00Z'),
    }).reveal();
    const p = parseDbAuthToken(t);
    expect(p.dbUser).toBe('José ሴ 😀');
    expect(p.securityToken?.reveal()).toBe('tok+/=');
    expect(String(p.securityToken)).toBe('[REDACTED]');
    expect(JSON.stringify(p)).not.toContain('tok');
  });

  it('accepts the boundaries X-Amz-Expires=1 and 900', () => {
    expect(parseDbAuthToken(token({ set: { 'X-Amz-Expires': '1' } })).expiresSeconds).toBe(1);
    expect(parseDbAuthToken(token({ set: { 'X-Amz-Expires': '900' } })).expiresSeconds).toBe(900);
  });

  it('accepts a token exactly at the length cap', () => {
    const base = token();
    const padded = token({ set: { DBUser: 'u'.repeat(MAX_TOKEN_LENGTH - base.length + 'someusername'.length) } });
    expect(padded.length).toBe(MAX_TOKEN_LENGTH);
    expect(parseDbAuthToken(padded).dbUser.length).toBeGreaterThan(7000);
  });
});

describe('parseDbAuthToken, layout', () => {
  it('rejects a token over the length cap before parsing', () => {
    const base = token();
    const over = token({ set: { DBUser: 'u'.repeat(MAX_TOKEN_LENGTH - base.length + 'someusername'.length + 1) } });
    expect(parseCode(over)).toBe('AUTH_TOKEN_TOO_LONG');
    // Even garbage is refused by length first.
    expect(parseCode('%'.repeat(MAX_TOKEN_LENGTH + 1))).toBe('AUTH_TOKEN_TOO_LONG');
  });

  it.each([
    ['no path at all', `${HOST}?Action=connect`, 'AUTH_TOKEN_BAD_LAYOUT'],
    ['a path other than "/"', token().replace(':3306/?', ':3306/x?'), 'AUTH_TOKEN_BAD_LAYOUT'],
    ['a double slash', token().replace(':3306/?', ':3306//?'), 'AUTH_TOKEN_BAD_LAYOUT'],
    ['a scheme in front', `https://${token()}`, 'AUTH_TOKEN_BAD_LAYOUT'],
    ['an empty host', token({}, ':3306'), 'AUTH_TOKEN_BAD_HOST'],
    ['a host with a space', token({}, 'db example:3306'), 'AUTH_TOKEN_BAD_HOST'],
    ['a host with userinfo', token({}, 'user@db:3306'), 'AUTH_TOKEN_BAD_HOST'],
    ['an overlong host', token({}, `${'a'.repeat(256)}:3306`), 'AUTH_TOKEN_BAD_HOST'],
    ['an unclosed IPv6 literal', token({}, '[::1:3306'), 'AUTH_TOKEN_BAD_HOST'],
    ['an empty port', token({}, 'db:'), 'AUTH_TOKEN_BAD_PORT'],
    ['port 0', token({}, 'db:0'), 'AUTH_TOKEN_BAD_PORT'],
    ['port 65536', token({}, 'db:65536'), 'AUTH_TOKEN_BAD_PORT'],
    ['a signed port', token({}, 'db:+3306'), 'AUTH_TOKEN_BAD_PORT'],
    ['a port with a space', token({}, 'db: 3306'), 'AUTH_TOKEN_BAD_PORT'],
    ['a port with a leading zero', token({}, 'db:03306'), 'AUTH_TOKEN_BAD_PORT'],
    ['a hex port', token({}, 'db:0xcea'), 'AUTH_TOKEN_BAD_PORT'],
    ['two ports', token({}, 'db:3306:3306'), 'AUTH_TOKEN_BAD_PORT'],
  ] as Array<[string, string, ErrorCode]>)('rejects %s', (_name, t, code) => {
    expect(parseCode(t)).toBe(code);
  });
});

describe('parseDbAuthToken, query encoding (REFERENCE 6.2.A.4)', () => {
  it.each([
    ['a raw "+"', { DBUser: 'some+user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['"%zz"', { DBUser: 'some%zzuser' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a "%" with one hex digit', { DBUser: 'some%2user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a trailing "%"', { DBUser: 'someuser%' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a trailing "%" and one digit', { DBUser: 'someuser%4' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['an overlong UTF-8 "/" (%C0%AF)', { DBUser: 'some%C0%AFuser' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['an overlong UTF-8 NUL (%C0%80)', { DBUser: 'some%C0%80user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a lone continuation byte', { DBUser: 'some%80user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['an encoded UTF-16 surrogate', { DBUser: 'some%ED%A0%80user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a truncated multi-byte sequence', { DBUser: 'some%E1%88user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['Latin-1 instead of UTF-8', { DBUser: 'jos%E9' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a raw non-ASCII character', { DBUser: 'josé' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a raw space', { DBUser: 'some user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['a raw "#"', { DBUser: 'some#user' }, 'AUTH_TOKEN_BAD_ENCODING'],
    ['an encoded NUL', { DBUser: 'some%00user' }, 'AUTH_TOKEN_CONTROL_CHARACTER'],
    ['a raw NUL', { DBUser: 'some\u0000user' }, 'AUTH_TOKEN_CONTROL_CHARACTER'],
    ['an encoded CR LF', { DBUser: 'some%0D%0Auser' }, 'AUTH_TOKEN_CONTROL_CHARACTER'],
    ['a raw LF', { DBUser: 'some\nuser' }, 'AUTH_TOKEN_CONTROL_CHARACTER'],
    ['an encoded DEL', { DBUser: 'some%7Fuser' }, 'AUTH_TOKEN_CONTROL_CHARACTER'],
    ['an encoded C1 control', { DBUser: 'some%C2%85user' }, 'AUTH_TOKEN_CONTROL_CHARACTER'],
  ] as Array<[string, Record<string, string>, ErrorCode]>)('rejects %s', (_name, set, code) => {
    expect(parseCode(token({ set }))).toBe(code);
  });

  it('rejects a raw CR LF in the session token', () => {
    expect(parseCode(token({ add: [['X-Amz-Security-Token', 'abc\r\ndef']] }))).toBe('AUTH_TOKEN_CONTROL_CHARACTER');
  });

  it('rejects an encoded control character in a key', () => {
    expect(parseCode(`${token()}&%00=x`)).toBe('AUTH_TOKEN_CONTROL_CHARACTER');
  });
});

describe('parseDbAuthToken, keys (REFERENCE 6.2.A.3, 5, 6)', () => {
  it.each(['DBUser', 'X-Amz-Date', 'X-Amz-Signature', 'Action', 'X-Amz-Credential'])('rejects a duplicated %s', (key) => {
    const value = BOTOCORE_PARAMS.find(([k]) => k === key)?.[1] ?? '';
    expect(parseCode(token({ add: [[key, value]] }))).toBe('AUTH_TOKEN_DUPLICATE_KEY');
  });

  it('rejects a duplicated DBUser even when the copies differ', () => {
    expect(parseCode(token({ add: [['DBUser', 'admin']] }))).toBe('AUTH_TOKEN_DUPLICATE_KEY');
  });

  it('rejects a key duplicated through an equivalent encoding', () => {
    expect(parseCode(token({ add: [['DB%55ser', 'admin']] }))).toBe('AUTH_TOKEN_DUPLICATE_KEY');
  });

  it('rejects a duplicated X-Amz-Security-Token', () => {
    expect(
      parseCode(
        token({
          add: [
            ['X-Amz-Security-Token', 'a'],
            ['X-Amz-Security-Token', 'a'],
          ],
        }),
      ),
    ).toBe('AUTH_TOKEN_DUPLICATE_KEY');
  });

  it.each([
    ['an unknown key', [['X-Amz-Foo', 'bar']]],
    ['a lowercase "dbuser"', [['dbuser', 'admin']]],
    ['a lowercase "action"', [['action', 'connect']]],
    ['an X-Amz-Content-Sha256 key', [['X-Amz-Content-Sha256', 'UNSIGNED-PAYLOAD']]],
  ] as Array<[string, Array<[string, string]>]>)('rejects %s', (_name, add) => {
    expect(parseCode(token({ add }))).toBe('AUTH_TOKEN_UNKNOWN_KEY');
  });

  it('rejects an empty parameter name', () => {
    expect(parseCode(`${token()}&=x`)).toBe('AUTH_TOKEN_EMPTY_KEY');
    expect(parseCode(`${token()}&`)).toBe('AUTH_TOKEN_EMPTY_KEY');
    expect(parseCode(token().replace('&DBUser', '&&DBUser'))).toBe('AUTH_TOKEN_EMPTY_KEY');
  });

  it('rejects an empty value', () => {
    expect(parseCode(token({ set: { DBUser: '' } }))).toBe('AUTH_TOKEN_EMPTY_VALUE');
    expect(parseCode(token().replace('DBUser=someusername', 'DBUser'))).toBe('AUTH_TOKEN_EMPTY_VALUE');
    expect(parseCode(token({ add: [['X-Amz-Security-Token', '']] }))).toBe('AUTH_TOKEN_EMPTY_VALUE');
  });

  it.each(BOTOCORE_PARAMS.map(([k]) => k))('rejects a token missing %s', (key) => {
    let caught: unknown;
    try {
      parseDbAuthToken(token({ drop: [key] }));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IamdbError);
    expect((caught as IamdbError).code).toBe('AUTH_TOKEN_MISSING_KEY');
    expect((caught as IamdbError).details.key).toBe(key);
  });

  it('accepts a value containing "=" because only the first "=" splits', () => {
    const t = presignDbAuthToken({
      hostname: 'db',
      port: 1,
      username: 'u',
      region: 'r',
      credentials: { accessKeyId: 'A', secretAccessKey: new Secret('s'), sessionToken: new Secret('x==') },
      date: new Date(0),
    }).reveal();
    expect(parseDbAuthToken(t.replace('x%3D%3D', 'x==')).securityToken?.reveal()).toBe('x==');
  });
});

describe('parseDbAuthToken, fields (REFERENCE 6.2.A.5, 7, 8, 9, 12, 13, 14)', () => {
  it.each([
    ['Action other than connect', { Action: 'Connect' }, 'AUTH_TOKEN_BAD_ACTION'],
    ['Action=login', { Action: 'login' }, 'AUTH_TOKEN_BAD_ACTION'],
    ['a SigV4a algorithm', { 'X-Amz-Algorithm': 'AWS4-ECDSA-P256-SHA256' }, 'AUTH_TOKEN_BAD_ALGORITHM'],
    ['a lowercase algorithm', { 'X-Amz-Algorithm': 'aws4-hmac-sha256' }, 'AUTH_TOKEN_BAD_ALGORITHM'],
    ['SignedHeaders host;x-amz-date', { 'X-Amz-SignedHeaders': 'host%3Bx-amz-date' }, 'AUTH_TOKEN_BAD_SIGNED_HEADERS'],
    ['SignedHeaders Host', { 'X-Amz-SignedHeaders': 'Host' }, 'AUTH_TOKEN_BAD_SIGNED_HEADERS'],
    ['a 4-part credential', { 'X-Amz-Credential': 'akid%2F20161107%2Fus-east-1%2Frds-db' }, 'AUTH_TOKEN_BAD_CREDENTIAL'],
    [
      'a 6-part credential',
      { 'X-Amz-Credential': 'akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request%2Fx' },
      'AUTH_TOKEN_BAD_CREDENTIAL',
    ],
    ['a wrong terminator', { 'X-Amz-Credential': 'akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_requesT' }, 'AUTH_TOKEN_BAD_CREDENTIAL'],
    ['an empty access key id', { 'X-Amz-Credential': '%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request' }, 'AUTH_TOKEN_BAD_CREDENTIAL'],
    ['a malformed scope date', { 'X-Amz-Credential': 'akid%2F2016117%2Fus-east-1%2Frds-db%2Faws4_request' }, 'AUTH_TOKEN_BAD_CREDENTIAL'],
    ['an uppercase region', { 'X-Amz-Credential': 'akid%2F20161107%2FUS-EAST-1%2Frds-db%2Faws4_request' }, 'AUTH_TOKEN_BAD_CREDENTIAL'],
    ['an empty service', { 'X-Amz-Credential': 'akid%2F20161107%2Fus-east-1%2F%2Faws4_request' }, 'AUTH_TOKEN_BAD_CREDENTIAL'],
    ['a scope date other than the request day', { 'X-Amz-Credential': 'akid%2F20161108%2Fus-east-1%2Frds-db%2Faws4_request' }, 'AUTH_TOKEN_SCOPE_DATE_MISMATCH'],
    ['a malformed X-Amz-Date', { 'X-Amz-Date': '2016-11-07T17:39:33Z' }, 'AUTH_TOKEN_BAD_DATE'],
    ['an impossible X-Amz-Date', { 'X-Amz-Date': '20161131T173933Z' }, 'AUTH_TOKEN_BAD_DATE'],
    ['X-Amz-Date with hour 25', { 'X-Amz-Date': '20161107T253933Z' }, 'AUTH_TOKEN_BAD_DATE'],
    ['Expires=0', { 'X-Amz-Expires': '0' }, 'AUTH_TOKEN_EXPIRES_ZERO'],
    ['Expires=-1', { 'X-Amz-Expires': '-1' }, 'AUTH_TOKEN_EXPIRES_NEGATIVE'],
    ['Expires=abc', { 'X-Amz-Expires': 'abc' }, 'AUTH_TOKEN_EXPIRES_NOT_INTEGER'],
    ['Expires=1.5', { 'X-Amz-Expires': '1.5' }, 'AUTH_TOKEN_EXPIRES_NOT_INTEGER'],
    ['Expires=1e2', { 'X-Amz-Expires': '1e2' }, 'AUTH_TOKEN_EXPIRES_NOT_INTEGER'],
    ['Expires with a leading zero', { 'X-Amz-Expires': '0900' }, 'AUTH_TOKEN_EXPIRES_NOT_INTEGER'],
    ['Expires with a space', { 'X-Amz-Expires': '%20900' }, 'AUTH_TOKEN_EXPIRES_NOT_INTEGER'],
    ['Expires=901', { 'X-Amz-Expires': '901' }, 'AUTH_TOKEN_EXPIRES_TOO_LONG'],
    ['Expires=3600', { 'X-Amz-Expires': '3600' }, 'AUTH_TOKEN_EXPIRES_TOO_LONG'],
    ['Expires=604800', { 'X-Amz-Expires': '604800' }, 'AUTH_TOKEN_EXPIRES_TOO_LONG'],
    ['a huge Expires', { 'X-Amz-Expires': '9'.repeat(400) }, 'AUTH_TOKEN_EXPIRES_TOO_LONG'],
    ['an uppercase-hex signature', { 'X-Amz-Signature': SIG.toUpperCase() }, 'AUTH_TOKEN_BAD_SIGNATURE_FORMAT'],
    ['a 63-character signature', { 'X-Amz-Signature': SIG.slice(1) }, 'AUTH_TOKEN_BAD_SIGNATURE_FORMAT'],
    ['a 65-character signature', { 'X-Amz-Signature': `${SIG}0` }, 'AUTH_TOKEN_BAD_SIGNATURE_FORMAT'],
    ['a non-hex signature', { 'X-Amz-Signature': `${SIG.slice(1)}g` }, 'AUTH_TOKEN_BAD_SIGNATURE_FORMAT'],
  ] as Array<[string, Record<string, string>, ErrorCode]>)('rejects %s', (_name, set, code) => {
    expect(parseCode(token({ set }))).toBe(code);
  });

  it('leaves the service to verify, so a wrong service gets its own code there', () => {
    const p = parseDbAuthToken(token({ set: { 'X-Amz-Credential': 'akid%2F20161107%2Fus-east-1%2Fs3%2Faws4_request' } }));
    expect(p.scope.service).toBe('s3');
  });
});
