import type { ErrorSpec } from '../types.js';

/**
 * Error codes of the control plane's HTTP edge: framing, dispatch and
 * parameter validation. Messages are AWS's texts where AWS has one; the AWS
 * error code and HTTP status each maps to live in src/api/aws-errors.ts.
 */
export const apiCodes = {
  /** MissingAction (Query protocol): no Action parameter. */
  API_MISSING_ACTION: { kind: 'InvalidInput', message: 'Missing Action' },
  /**
   * InvalidAction (Query) / UnknownOperationException (JSON): an action iamdb does not serve. AWS's
   * codes, but a message that says so plainly: AWS's own texts ("Could not find operation … for
   * version …") read like a client or API-version problem.
   */
  API_INVALID_ACTION: { kind: 'InvalidInput', message: 'iamdb does not implement {action} ({service}); see docs/control-plane.md for the supported actions' },
  /** The credential scope names a service iamdb does not serve. */
  API_UNSUPPORTED_SERVICE: { kind: 'InvalidInput', message: 'iamdb does not serve the {service} API here; it serves iam, sts, rds, kms and secretsmanager' },
  /** ValidationError / InvalidParameterValue / ValidationException: AWS's own text in `message`. */
  API_VALIDATION: { kind: 'InvalidInput', message: '{message}' },
  /** The body was not what the protocol says (bad JSON, wrong content type). */
  API_MALFORMED_REQUEST: { kind: 'InvalidInput', message: '{message}' },
  /** RequestEntityTooLarge: bodies are bounded before they are read. */
  API_BODY_TOO_LARGE: { kind: 'InvalidInput', message: 'Request body exceeds the limit of {limit} bytes' },
  /** AccessDenied with AWS's text for a request the caller's policies do not allow. */
  API_ACCESS_DENIED: { kind: 'AccessDenied', audit: 'AccessDenied', message: '{message}' },
  /** An action iamdb knows and declines to do, with the reason. */
  API_NOT_SUPPORTED: { kind: 'InvalidInput', message: '{message}' },
} as const satisfies Record<string, ErrorSpec>;
