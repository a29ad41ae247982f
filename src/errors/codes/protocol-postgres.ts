import type { ErrorSpec } from '../types.js';

/**
 * Error codes of the wire-protocol layer: the shared byte reader and writer
 * (`src/protocol/common`, also used by the MySQL codecs) and the PostgreSQL
 * codecs, framers, relay trackers and upstream login (`src/protocol/postgres`).
 *
 * Templates never name secrets: no detail holds a password, token or SCRAM
 * proof. Peer-supplied strings that do appear (a SCRAM `e=` value, a message
 * letter) are short, bounded protocol tokens.
 */
export const protocolPostgresCodes = {
  // --- shared by every codec (ByteReader / ByteWriter) ---
  PROTO_TRUNCATED: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: 'truncated {what}: needed {needed} bytes at offset {offset}, {available} available',
  },
  PROTO_BAD_LENGTH: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: 'bad length {length} for {what}',
  },
  PROTO_MESSAGE_TOO_LARGE: {
    kind: 'ProtocolViolation',
    audit: 'FrameTooLarge',
    message: '{what} declares {length} bytes, above the limit of {limit}',
  },
  PROTO_STRING_TOO_LONG: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: '{what} is not NUL-terminated within {max} bytes',
  },
  PROTO_BAD_ENCODING: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: '{what} is not valid UTF-8',
  },
  PROTO_TRAILING_BYTES: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: '{what} has {count} unexpected trailing bytes',
  },
  PROTO_UNENCODABLE: {
    kind: 'InvalidInput',
    message: 'cannot encode {what}: {reason}',
  },
  PROTO_BAD_LIMIT: {
    kind: 'InvalidInput',
    message: 'protocol limit {name} must be an integer between {min} and {max}, got {value}',
  },
  PROTO_DECODER_FAILED: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: 'decoder already failed ({first}); the connection must be closed',
  },
  // --- PostgreSQL startup phase ---
  PROTO_UNSUPPORTED_VERSION: {
    kind: 'ProtocolViolation',
    audit: 'UnsupportedProtocol',
    message: 'unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.2',
  },
  PROTO_BAD_STARTUP_PARAMS: {
    kind: 'ProtocolViolation',
    audit: 'MalformedStartup',
    message: 'malformed startup packet: {reason}',
  },
  PROTO_DUPLICATE_PARAM: {
    kind: 'ProtocolViolation',
    audit: 'MalformedStartup',
    message: 'startup parameter "{name}" appears more than once',
  },
  PROTO_MISSING_USER: {
    kind: 'ProtocolViolation',
    audit: 'MalformedStartup',
    message: 'no PostgreSQL user name specified in startup packet',
  },
  PROTO_STARTUP_PARAM_NOT_ALLOWED: {
    kind: 'InvalidInput',
    message: 'startup parameter "{name}" is not on the upstream allow-list',
  },
  // --- PostgreSQL typed messages ---
  PROTO_MALFORMED_MESSAGE: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: 'malformed {what}: {reason}',
  },
  PROTO_UNEXPECTED_MESSAGE: {
    kind: 'ProtocolViolation',
    audit: 'UnexpectedMessage',
    message: 'unexpected {message} while {state}',
  },
  // --- upstream login (gateway as a PostgreSQL client) ---
  PROTO_AUTH_METHOD_UNSUPPORTED: {
    kind: 'Unavailable',
    audit: 'UpstreamAuthUnsupported',
    message: 'the upstream server asked for {method} authentication, which iamdb does not support here',
  },
  PROTO_SCRAM_BAD_SERVER_MESSAGE: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamScramFailed',
    message: 'malformed SCRAM {step} from the upstream server: {reason}',
  },
  PROTO_SCRAM_BAD_CLIENT_MESSAGE: {
    kind: 'ProtocolViolation',
    audit: 'MalformedFrame',
    message: 'malformed SCRAM {step} from the client: {reason}',
  },
  PROTO_SCRAM_NONCE_MISMATCH: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamScramFailed',
    message: 'the upstream SCRAM nonce does not extend the client nonce',
  },
  PROTO_SCRAM_BAD_ITERATIONS: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamScramFailed',
    message: 'upstream SCRAM iteration count {iterations} is outside {min}..{max}',
  },
  PROTO_SCRAM_SERVER_SIGNATURE_MISMATCH: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamScramFailed',
    message: 'the upstream server failed to prove it knows the SCRAM password (bad ServerSignature)',
  },
  PROTO_SCRAM_SERVER_ERROR: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamScramFailed',
    message: 'the upstream server ended SCRAM with error "{error}"',
  },
  PROTO_SCRAM_INCOMPLETE: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamScramFailed',
    message: 'the upstream server reported success before SCRAM completed ({state})',
  },
  PROTO_CHANNEL_BINDING_REQUIRED: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamChannelBinding',
    message: 'channel binding is required but {reason}',
  },
  PROTO_PASSWORD_REQUIRED: {
    kind: 'InvalidInput',
    message: 'the upstream server asked for a password ({method}) but none is configured for this login',
  },
  PROTO_CLEARTEXT_REFUSED: {
    kind: 'ProtocolViolation',
    audit: 'UpstreamCleartextRefused',
    message: 'the upstream server asked for a cleartext password and cleartext is disabled for this link',
  },
} as const satisfies Record<string, ErrorSpec>;
