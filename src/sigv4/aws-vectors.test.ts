/**
 * AWS's published SigV4 suite, query-signing cases, run through the same
 * low-level functions that sign and verify rds-db tokens (with the suite's
 * service name "service").
 *
 * Source: awslabs/aws-c-auth, tests/aws-signing-test-suite/v4/<case>/
 * (Apache-2.0). Shared context.json: AKIDEXAMPLE /
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1, service "service",
 * 2015-08-30T12:36:00Z, host example.amazonaws.com.
 *
 * The stored suite mixes file versions: the query-signed-request.txt files
 * carry X-Amz-Expires=3600 and sort by encoded key, while some older
 * query-canonical-request.txt files predate both. So signatures are checked
 * against query-signed-request.txt (the parameters below are those files'
 * query strings, decoded), and each query-canonical-request.txt is checked
 * only against its own query-string-to-sign.txt.
 */
import { describe, expect, it } from 'vitest';
import { Secret } from '../util/index.js';
import { canonicalQueryString } from './canonical-query.js';
import { canonicalRequest } from './canonical-request.js';
import { credentialScope } from './credential-scope.js';
import { signatureHex } from './signature.js';
import { deriveSigningKey } from './signing-key.js';
import { stringToSign } from './string-to-sign.js';

const SECRET = new Secret('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');
const AMZ_DATE = '20150830T123600Z';
const SCOPE = credentialScope('20150830', 'us-east-1', 'service');
const HOST = 'example.amazonaws.com';
const PRESIGN: Array<[string, string]> = [
  ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
  ['X-Amz-Credential', `AKIDEXAMPLE/${SCOPE}`],
  ['X-Amz-Date', AMZ_DATE],
  ['X-Amz-SignedHeaders', 'host'],
  ['X-Amz-Expires', '3600'],
];
const PRESIGN_CANONICAL =
  'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request' +
  '&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host';
const UNRESERVED = '-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const signedRequestCases: Array<{
  name: string;
  params: Array<[string, string]>;
  canonicalQuery: string;
  signature: string;
}> = [
  {
    name: 'get-vanilla-query-order-key-case',
    params: [['Param2', 'value2'], ['Param1', 'value1'], ...PRESIGN],
    canonicalQuery: `Param1=value1&Param2=value2&${PRESIGN_CANONICAL}`,
    signature: '86012e2c9ad4d77369f5d81c11f75158aae4f895a085212cc6d3f923d300bed5',
  },
  {
    name: 'get-vanilla-query-order-encoded',
    params: [['Param-3', 'Value3'], ['Param', 'Value2'], ['\u1234', 'Value1'], ...PRESIGN],
    canonicalQuery: `%E1%88%B4=Value1&Param=Value2&Param-3=Value3&${PRESIGN_CANONICAL}`,
    signature: 'c5f1848ceec943ac2ca68ee720460c23aaae30a2300586597ada94c4a65e4787',
  },
  {
    name: 'get-vanilla-utf8-query',
    params: [['\u1234', 'bar'], ...PRESIGN],
    canonicalQuery: `%E1%88%B4=bar&${PRESIGN_CANONICAL}`,
    signature: '0bdd809b1519ac4f0c1dc3540e2cc46bd0c7f778eda408b2ebf3b913d21ff600',
  },
  {
    name: 'get-vanilla-query-unreserved',
    params: [[UNRESERVED, UNRESERVED], ...PRESIGN],
    canonicalQuery: `${UNRESERVED}=${UNRESERVED}&${PRESIGN_CANONICAL}`,
    signature: '8e76a88a7433637b12778d5592799b29ad21ecd6cf6325051c21d86f0acda2bf',
  },
  {
    name: 'get-vanilla-with-session-token',
    params: [
      ...PRESIGN,
      ['X-Amz-Security-Token', '6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267'],
    ],
    canonicalQuery: PRESIGN_CANONICAL.replace(
      '&X-Amz-SignedHeaders',
      '&X-Amz-Security-Token=6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267&X-Amz-SignedHeaders',
    ),
    signature: '7ff2b50b376cb4d151970630573d6291dc128cc5c2a12ffb237f73cc53f67b6c',
  },
];

describe('AWS SigV4 suite, query-signed requests', () => {
  it.each(signedRequestCases)('$name: canonical query and signature match', ({ params, canonicalQuery, signature }) => {
    const query = canonicalQueryString(params);
    expect(query).toBe(canonicalQuery);
    const sts = stringToSign(AMZ_DATE, SCOPE, canonicalRequest(query, HOST));
    expect(signatureHex(deriveSigningKey(SECRET, '20150830', 'us-east-1', 'service'), sts)).toBe(signature);
  });

  it('a one-character change to any input changes the signature', () => {
    const [vector] = signedRequestCases;
    if (vector === undefined) throw new Error('no vector');
    const key = deriveSigningKey(SECRET, '20150830', 'us-east-1', 'service');
    const sign = (query: string, host: string, date: string): string =>
      signatureHex(key, stringToSign(date, SCOPE, canonicalRequest(query, host)));
    const query = canonicalQueryString(vector.params);
    expect(sign(query, HOST, AMZ_DATE)).toBe(vector.signature);
    expect(sign(query.replace('value1', 'value2'), HOST, AMZ_DATE)).not.toBe(vector.signature);
    expect(sign(query, 'Example.amazonaws.com', AMZ_DATE)).not.toBe(vector.signature);
    expect(sign(query, HOST, '20150830T123601Z')).not.toBe(vector.signature);
  });
});

describe('AWS SigV4 suite, canonical request to string-to-sign', () => {
  // Each pair is query-canonical-request.txt and query-string-to-sign.txt of
  // one case at one commit.
  const cases: Array<{ name: string; query: string; hash: string }> = [
    {
      name: 'get-vanilla-query-order-key-case (commit e70d49e)',
      query:
        'Param1=value1&Param2=value2&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host',
      hash: 'eb1512f5ed1470925b7b1072c2108953680032d6bc3ccbef8eb7c6fdf1639827',
    },
    {
      name: 'get-vanilla-query-unreserved (commit e70d49e)',
      query: `${UNRESERVED}=${UNRESERVED}&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host`,
      hash: '8f98081ae4d79cd54ca4a1d36e2356f7cb99fdf91dfe307d8f72faf0b9554928',
    },
  ];
  it.each(cases)('$name', ({ query, hash }) => {
    expect(stringToSign(AMZ_DATE, SCOPE, canonicalRequest(query, HOST))).toBe(
      `AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n${hash}`,
    );
  });

  it('builds the canonical request text exactly', () => {
    expect(canonicalRequest('a=b', 'h:1')).toBe(
      'GET\n/\na=b\nhost:h:1\n\nhost\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('canonicalQueryString', () => {
  it('sorts by encoded name, then by encoded value', () => {
    expect(
      canonicalQueryString([
        ['b', '2'],
        ['a', 'z'],
        ['a', 'y'],
        ['A', '1'],
      ]),
    ).toBe('A=1&a=y&a=z&b=2');
  });

  it('is independent of the order parameters come in', () => {
    const params: Array<[string, string]> = [
      ['DBUser', 'a b'],
      ['Action', 'connect'],
      ['X-Amz-Date', '20161107T173933Z'],
    ];
    expect(canonicalQueryString([...params].reverse())).toBe(canonicalQueryString(params));
  });
});
