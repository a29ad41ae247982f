import type { ErrorSpec } from '../types.js';

/**
 * Error codes of the protocol-mysql domain (src/protocol/mysql). Messages name
 * the packet and the field, never the bytes of a credential.
 */
export const protocolMysqlCodes = {
  PROTO_MYSQL_TRUNCATED: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what} ends early: {needed} more byte(s) needed at offset {offset}',
  },
  PROTO_MYSQL_STREAM_ENDED: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL connection ended inside a packet ({buffered} byte(s) of an incomplete packet buffered)',
  },
  PROTO_MYSQL_PACKET_TOO_LARGE: {
    kind: 'LimitExceeded',
    audit: 'MalformedPacket',
    message: 'MySQL packet of at least {length} bytes exceeds max_allowed_packet {max}',
  },
  PROTO_MYSQL_SEQUENCE_MISMATCH: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL packet has sequence id {actual}, expected {expected}',
  },
  PROTO_MYSQL_BAD_LENGTH_ENCODED_INTEGER: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what}: invalid length-encoded integer (first byte {first}) at offset {offset}',
  },
  PROTO_MYSQL_UNTERMINATED_STRING: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what}: NUL-terminated string starting at offset {offset} has no NUL',
  },
  PROTO_MYSQL_INVALID_TEXT: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what}: {field} is not valid UTF-8',
  },
  PROTO_MYSQL_FIELD_TOO_LONG: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what}: {field} is {length} bytes, more than the {max} allowed',
  },
  PROTO_MYSQL_UNEXPECTED_PACKET: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what} expected, but the packet starts with byte {header}',
  },
  PROTO_MYSQL_MALFORMED: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL {what} is malformed: {reason}',
  },
  PROTO_MYSQL_UNSUPPORTED: {
    kind: 'ProtocolViolation',
    audit: 'UnsupportedProtocol',
    message: 'MySQL {what} uses an unsupported feature: {feature}',
  },
  PROTO_MYSQL_COMMAND_REFUSED: {
    kind: 'ProtocolViolation',
    audit: 'UnsupportedProtocol',
    message: 'MySQL command {command} is not relayed: {reason}',
  },
  PROTO_MYSQL_LOCAL_INFILE_REQUEST: {
    kind: 'ProtocolViolation',
    audit: 'MalformedPacket',
    message: 'MySQL server asked the client for a LOCAL INFILE file, which CLIENT_LOCAL_FILES would allow and the gateway never offers',
  },
  PROTO_MYSQL_TOO_MANY_PENDING: {
    kind: 'LimitExceeded',
    message: 'more than {max} MySQL commands sent without a response; the client pipelines too deeply',
  },
  PROTO_MYSQL_INVALID_ARGUMENT: {
    kind: 'InvalidInput',
    message: 'cannot encode MySQL {what}: {reason}',
  },
} as const satisfies Record<string, ErrorSpec>;
