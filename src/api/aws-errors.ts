/**
 * How iamdb's catalog errors appear on the control plane's wire: the AWS
 * error code, the HTTP status, and the message. The catalog's own message is
 * sent where it is AWS's text (IAM, RDS, validation); authentication failures
 * get AWS's fixed texts so that nothing about why a key was refused (unknown,
 * inactive, forged session) leaks to the caller. The audit log keeps the
 * precise catalog code.
 */
import { IamdbError, isIamdbError, type ErrorCode } from '../errors/index.js';

export type Protocol = 'query' | 'json';

export interface AwsError {
  readonly code: string;
  readonly status: number;
  readonly message: string;
  /** Sender (the caller's fault) or Receiver (iamdb's). */
  readonly type: 'Sender' | 'Receiver';
  /** The catalog code behind it, for the audit log. */
  readonly source: ErrorCode | 'UNEXPECTED';
}

const INVALID_TOKEN = 'The security token included in the request is invalid.';
const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

type Mapping = { code: string | { query: string; json: string }; status: number; message?: string };

const MAPPINGS: Partial<Record<ErrorCode, Mapping>> = {
  REQUEST_AUTH_MISSING: { code: 'MissingAuthenticationToken', status: 403, message: 'Request is missing Authentication Token' },
  REQUEST_AUTH_MALFORMED: { code: 'IncompleteSignature', status: 400 },
  REQUEST_SIGNATURE_MISMATCH: { code: 'SignatureDoesNotMatch', status: 403, message: SIGNATURE_MISMATCH },
  REQUEST_WRONG_REGION: { code: { query: 'SignatureDoesNotMatch', json: 'InvalidSignatureException' }, status: 403 },
  REQUEST_UNSIGNED_HEADER: { code: 'IncompleteSignature', status: 400 },
  REQUEST_EXPIRED: { code: { query: 'SignatureDoesNotMatch', json: 'InvalidSignatureException' }, status: 403 },
  GATEWAY_UNKNOWN_ACCESS_KEY: { code: { query: 'InvalidClientTokenId', json: 'UnrecognizedClientException' }, status: 403, message: INVALID_TOKEN },
  GATEWAY_INACTIVE_ACCESS_KEY: { code: { query: 'InvalidClientTokenId', json: 'UnrecognizedClientException' }, status: 403, message: INVALID_TOKEN },
  STS_INVALID_SESSION_TOKEN: { code: { query: 'InvalidClientTokenId', json: 'UnrecognizedClientException' }, status: 403, message: INVALID_TOKEN },
  STS_UNKNOWN_USER: { code: { query: 'InvalidClientTokenId', json: 'UnrecognizedClientException' }, status: 403, message: INVALID_TOKEN },
  STS_UNKNOWN_ROLE: { code: { query: 'InvalidClientTokenId', json: 'UnrecognizedClientException' }, status: 403, message: INVALID_TOKEN },
  STS_SESSION_EXPIRED: { code: { query: 'ExpiredToken', json: 'ExpiredTokenException' }, status: 400, message: 'The security token included in the request is expired' },
  STS_SESSION_REVOKED: { code: { query: 'ExpiredToken', json: 'ExpiredTokenException' }, status: 400, message: 'The security token included in the request is expired' },
  STS_TRUST_POLICY_DENIED: { code: { query: 'AccessDenied', json: 'AccessDeniedException' }, status: 403 },
  STS_PACKED_POLICY_TOO_LARGE: { code: 'PackedPolicyTooLarge', status: 400 },
  API_MISSING_ACTION: { code: 'MissingAction', status: 400 },
  API_INVALID_ACTION: { code: { query: 'InvalidAction', json: 'UnknownOperationException' }, status: 400 },
  API_UNSUPPORTED_SERVICE: { code: { query: 'InvalidAction', json: 'UnknownOperationException' }, status: 400 },
  API_VALIDATION: { code: { query: 'ValidationError', json: 'ValidationException' }, status: 400 },
  API_MALFORMED_REQUEST: { code: { query: 'MalformedQueryString', json: 'SerializationException' }, status: 400 },
  API_BODY_TOO_LARGE: { code: 'RequestEntityTooLarge', status: 413 },
  API_ACCESS_DENIED: { code: { query: 'AccessDenied', json: 'AccessDeniedException' }, status: 403 },
  API_NOT_SUPPORTED: { code: { query: 'InvalidAction', json: 'UnsupportedOperationException' }, status: 400 },
  IAM_ACCESS_DENIED: { code: { query: 'AccessDenied', json: 'AccessDeniedException' }, status: 403 },
  IAM_MALFORMED_POLICY: { code: { query: 'MalformedPolicyDocument', json: 'MalformedPolicyDocumentException' }, status: 400 },
  IAM_NO_SUCH_ENTITY: { code: 'NoSuchEntity', status: 404 },
  IAM_NO_SUCH_POLICY: { code: 'NoSuchEntity', status: 404 },
  IAM_NO_SUCH_POLICY_VERSION: { code: 'NoSuchEntity', status: 404 },
  IAM_NO_SUCH_ACCESS_KEY: { code: 'NoSuchEntity', status: 404 },
  IAM_ENTITY_ALREADY_EXISTS: { code: 'EntityAlreadyExists', status: 409 },
  IAM_POLICY_ALREADY_EXISTS: { code: 'EntityAlreadyExists', status: 409 },
  IAM_LIMIT_EXCEEDED: { code: { query: 'LimitExceeded', json: 'LimitExceededException' }, status: 409 },
  IAM_INLINE_POLICY_SIZE_EXCEEDED: { code: { query: 'LimitExceeded', json: 'LimitExceededException' }, status: 409 },
  IAM_POLICY_VERSION_LIMIT: { code: 'LimitExceeded', status: 409 },
  IAM_DELETE_CONFLICT: { code: 'DeleteConflict', status: 409 },
  IAM_POLICY_ATTACHED: { code: 'DeleteConflict', status: 409 },
  IAM_DEFAULT_VERSION_DELETE: { code: 'DeleteConflict', status: 409 },
  IAM_INVALID_INPUT: { code: { query: 'InvalidInput', json: 'InvalidParameterException' }, status: 400 },
  IAM_AWS_MANAGED_POLICY: { code: { query: 'AccessDenied', json: 'AccessDeniedException' }, status: 403 },
  KMS_NOT_FOUND: { code: 'NotFoundException', status: 400 },
  KMS_DISABLED: { code: 'DisabledException', status: 400 },
  KMS_INVALID_STATE: { code: 'KMSInvalidStateException', status: 400 },
  KMS_INVALID_CIPHERTEXT: { code: 'InvalidCiphertextException', status: 400 },
  KMS_INCORRECT_KEY: { code: 'IncorrectKeyException', status: 400 },
  KMS_ALREADY_EXISTS: { code: 'AlreadyExistsException', status: 400 },
  KMS_INVALID_INPUT: { code: 'ValidationException', status: 400 },
  SM_NOT_FOUND: { code: 'ResourceNotFoundException', status: 400 },
  SM_VERSION_NOT_FOUND: { code: 'ResourceNotFoundException', status: 400 },
  SM_EXISTS: { code: 'ResourceExistsException', status: 400 },
  SM_INVALID_REQUEST: { code: 'InvalidRequestException', status: 400 },
  SM_NAME_IS_ANOTHER_ARN: { code: 'InvalidRequestException', status: 400 },
  SM_INVALID_PARAMETER: { code: 'InvalidParameterException', status: 400 },
  SM_DECRYPTION_FAILURE: { code: 'DecryptionFailure', status: 400 },
  RDS_DB_INSTANCE_NOT_FOUND: { code: 'DBInstanceNotFound', status: 404 },
  RDS_RESOURCE_NOT_FOUND: { code: 'DBInstanceNotFound', status: 404 },
  RDS_INVALID_PARAMETER: { code: 'InvalidParameterValue', status: 400 },
  RDS_ALREADY_EXISTS: { code: 'DBInstanceAlreadyExists', status: 400 },
  RDS_INVALID_COMBINATION: { code: 'InvalidParameterCombination', status: 400 },
  RDS_INSTANCE_INVALID_STATE: { code: 'InvalidDBInstanceState', status: 400 },
  RDS_DB_CLUSTER_NOT_FOUND: { code: 'DBClusterNotFoundFault', status: 404 },
  RDS_PROXY_NOT_FOUND: { code: 'DBProxyNotFoundFault', status: 404 },
  RDS_PROXY_ALREADY_EXISTS: { code: 'DBProxyAlreadyExistsFault', status: 400 },
  RDS_PROXY_QUOTA_EXCEEDED: { code: 'DBProxyQuotaExceededFault', status: 400 },
  RDS_PROXY_TARGET_GROUP_NOT_FOUND: { code: 'DBProxyTargetGroupNotFoundFault', status: 404 },
  RDS_PROXY_TARGET_NOT_FOUND: { code: 'DBProxyTargetNotFoundFault', status: 404 },
  RDS_PROXY_TARGET_ALREADY_REGISTERED: { code: 'DBProxyTargetAlreadyRegisteredFault', status: 400 },
  RDS_PROXY_ENDPOINT_NOT_FOUND: { code: 'DBProxyEndpointNotFoundFault', status: 404 },
  RDS_PROXY_ENDPOINT_ALREADY_EXISTS: { code: 'DBProxyEndpointAlreadyExistsFault', status: 400 },
  RDS_PROXY_ENDPOINT_QUOTA_EXCEEDED: { code: 'DBProxyEndpointQuotaExceededFault', status: 400 },
  RDS_PROXY_INVALID_STATE: { code: 'InvalidDBProxyStateFault', status: 400 },
  RDS_PROXY_ENDPOINT_INVALID_STATE: { code: 'InvalidDBProxyEndpointStateFault', status: 400 },
};

/** Fallbacks by kind for catalog codes without their own mapping. */
const BY_KIND: Record<IamdbError['kind'], Mapping> = {
  AccessDenied: { code: { query: 'AccessDenied', json: 'AccessDeniedException' }, status: 403 },
  InvalidInput: { code: { query: 'InvalidParameterValue', json: 'InvalidParameterException' }, status: 400 },
  NotFound: { code: { query: 'NoSuchEntity', json: 'ResourceNotFoundException' }, status: 404 },
  Conflict: { code: { query: 'EntityAlreadyExists', json: 'ResourceExistsException' }, status: 409 },
  LimitExceeded: { code: { query: 'LimitExceeded', json: 'LimitExceededException' }, status: 409 },
  Unavailable: { code: { query: 'ServiceUnavailable', json: 'ServiceUnavailableException' }, status: 503, message: 'Service is unavailable.' },
  ProtocolViolation: { code: { query: 'InvalidParameterValue', json: 'InvalidParameterException' }, status: 400 },
  Internal: { code: { query: 'InternalFailure', json: 'InternalFailure' }, status: 500, message: 'We encountered an internal error. Please try again.' },
};

/**
 * Extra per-service names: Secrets Manager and KMS have their own words for
 * the same catalog codes (ResourceNotFoundException, NotFoundException).
 */
export type ServiceErrorOverrides = Partial<Record<ErrorCode, { code: string; status?: number }>>;

/** The AWS error for `err` on `protocol`; anything not from the catalog is an internal failure with no detail. */
export function awsErrorFor(err: unknown, protocol: Protocol, overrides: ServiceErrorOverrides = {}): AwsError {
  if (!isIamdbError(err)) {
    return { code: 'InternalFailure', status: 500, message: 'We encountered an internal error. Please try again.', type: 'Receiver', source: 'UNEXPECTED' };
  }
  const mapping = MAPPINGS[err.code] ?? BY_KIND[err.kind];
  const override = overrides[err.code];
  const code = override?.code ?? (typeof mapping.code === 'string' ? mapping.code : mapping.code[protocol]);
  const status = override?.status ?? mapping.status;
  return { code, status, message: mapping.message ?? err.message, type: status >= 500 ? 'Receiver' : 'Sender', source: err.code };
}

/** A validation error with AWS's wording for a missing required member. */
export function missingParameter(name: string): IamdbError {
  const field = name.charAt(0).toLowerCase() + name.slice(1);
  return new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null` });
}
