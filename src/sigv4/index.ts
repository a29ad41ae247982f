/**
 * SigV4 for RDS IAM database authentication: make tokens (presign), read them
 * strictly (parse) and check them for one login (verify). Pure over strings
 * and a time handed in; imports only errors and util.
 */
export * from './constants.js';
export { uriEncode } from './uri-encode.js';
export { sha256Hex, hmacSha256 } from './hash.js';
export { formatAmzDate, parseAmzDate } from './amz-date.js';
export { credentialScope } from './credential-scope.js';
export { canonicalQueryString } from './canonical-query.js';
export { canonicalRequest } from './canonical-request.js';
export { stringToSign } from './string-to-sign.js';
export { deriveSigningKey, SigningKeyCache, DEFAULT_SIGNING_KEY_CACHE_SIZE } from './signing-key.js';
export { signatureHex } from './signature.js';
export { hostSyntaxProblem, MAX_HOST_LENGTH } from './host-syntax.js';
export { signedHostCandidates, asciiLower } from './signed-host.js';
export {
  presignDbAuthToken,
  type PresignDbAuthTokenInput,
  type SigningCredentials,
} from './presign.js';
export { parseDbAuthToken, type ParsedDbAuthToken, type TokenScope } from './parse-token.js';
export {
  verifyDbAuthToken,
  matchEndpoint,
  type DbEndpoint,
  type ResolvedCredential,
  type VerifyDbAuthTokenContext,
  type VerifiedDbAuthToken,
} from './verify.js';
export {
  parseRequestAuthorization,
  checkRequestTime,
  canonicalHttpRequest,
  canonicalRequestPath,
  requestSignatureMatches,
  signRequestHeaders,
  MAX_REQUEST_SKEW_MS,
  type SignedHttpRequest,
  type RequestAuthorization,
} from './request-signature.js';
