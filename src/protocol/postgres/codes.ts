/**
 * PostgreSQL wire constants: message type bytes, request codes,
 * authentication sub-codes, ErrorResponse field letters and the SQLSTATEs
 * iamdb raises. Only real SQLSTATEs from PostgreSQL's errcodes table appear
 * here; never invent one.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html
 * @see https://www.postgresql.org/docs/current/errcodes-appendix.html
 * @module
 */

/** Type bytes of messages a client (frontend) sends. */
export const FrontendCode = {
  Bind: 0x42, // 'B'
  Close: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyFail: 0x66, // 'f'
  Describe: 0x44, // 'D'
  Execute: 0x45, // 'E'
  Flush: 0x48, // 'H'
  FunctionCall: 0x46, // 'F'
  Parse: 0x50, // 'P'
  /** Also GSSResponse, SASLInitialResponse and SASLResponse: the context tells which. */
  PasswordMessage: 0x70, // 'p'
  Query: 0x51, // 'Q'
  Sync: 0x53, // 'S'
  Terminate: 0x58, // 'X'
} as const;
export type FrontendCode = (typeof FrontendCode)[keyof typeof FrontendCode];

/** Type bytes of messages a server (backend) sends. */
export const BackendCode = {
  Authentication: 0x52, // 'R'
  BackendKeyData: 0x4b, // 'K'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  CommandComplete: 0x43, // 'C'
  CopyData: 0x64, // 'd'
  CopyDone: 0x63, // 'c'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  CopyBothResponse: 0x57, // 'W'
  DataRow: 0x44, // 'D'
  EmptyQueryResponse: 0x49, // 'I'
  ErrorResponse: 0x45, // 'E'
  FunctionCallResponse: 0x56, // 'V'
  NegotiateProtocolVersion: 0x76, // 'v'
  NoData: 0x6e, // 'n'
  NoticeResponse: 0x4e, // 'N'
  NotificationResponse: 0x41, // 'A'
  ParameterDescription: 0x74, // 't'
  ParameterStatus: 0x53, // 'S'
  ParseComplete: 0x31, // '1'
  PortalSuspended: 0x73, // 's'
  ReadyForQuery: 0x5a, // 'Z'
  RowDescription: 0x54, // 'T'
} as const;
export type BackendCode = (typeof BackendCode)[keyof typeof BackendCode];

/**
 * Request codes in the second word of an untyped startup packet.
 * 1234.5678-5680 are deliberately impossible protocol versions.
 */
export const RequestCode = {
  /** 3.0 */
  ProtocolV30: 0x0003_0000,
  /** 3.2 (PostgreSQL 18: longer cancel keys). */
  ProtocolV32: 0x0003_0002,
  CancelRequest: 80877102, // 1234.5678
  SSLRequest: 80877103, // 1234.5679
  GSSENCRequest: 80877104, // 1234.5680
} as const;

/** Newest protocol minor version iamdb speaks (3.2). */
export const LATEST_PROTOCOL_MINOR = 2;

/** Single-byte answers to SSLRequest / GSSENCRequest. */
export const EncryptionResponse = {
  Accept: 0x53, // 'S'
  Reject: 0x4e, // 'N'
  /** GSSENCRequest accepted. */
  GssAccept: 0x47, // 'G'
} as const;

/** Sub-codes of Authentication ('R') messages. */
export const AuthCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;
export type AuthCode = (typeof AuthCode)[keyof typeof AuthCode];

/** ReadyForQuery transaction status bytes. */
export const TransactionStatus = {
  Idle: 0x49, // 'I'
  InTransaction: 0x54, // 'T'
  Failed: 0x45, // 'E'
} as const;
/** The status as its letter, the form the rest of iamdb uses. */
export type TransactionStatusLetter = 'I' | 'T' | 'E';

/** Field type letters of ErrorResponse / NoticeResponse. */
export const ErrorFieldCode = {
  Severity: 0x53, // 'S'
  SeverityNonLocalized: 0x56, // 'V'
  Code: 0x43, // 'C'
  Message: 0x4d, // 'M'
  Detail: 0x44, // 'D'
  Hint: 0x48, // 'H'
  Position: 0x50, // 'P'
  InternalPosition: 0x70, // 'p'
  InternalQuery: 0x71, // 'q'
  Where: 0x57, // 'W'
  Schema: 0x73, // 's'
  Table: 0x74, // 't'
  Column: 0x63, // 'c'
  DataType: 0x64, // 'd'
  Constraint: 0x6e, // 'n'
  File: 0x46, // 'F'
  Line: 0x4c, // 'L'
  Routine: 0x52, // 'R'
} as const;

/**
 * SQLSTATEs iamdb sends or recognises, all from PostgreSQL's errcodes table.
 *
 * @see https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
export const SqlState = {
  /** Class 08: connection_failure. */
  CONNECTION_FAILURE: '08006',
  /** Class 08: sqlclient_unable_to_establish_sqlconnection. */
  SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: '08001',
  /** Class 08: sqlserver_rejected_establishment_of_sqlconnection (RDS Proxy: no database connection in time). */
  SQLSERVER_REJECTED_ESTABLISHMENT_OF_SQLCONNECTION: '08004',
  /** Class 08: protocol_violation. */
  PROTOCOL_VIOLATION: '08P01',
  /** Class 0A: feature_not_supported. */
  FEATURE_NOT_SUPPORTED: '0A000',
  /** Class 28: invalid_authorization_specification (RDS IAM failures use it). */
  INVALID_AUTHORIZATION_SPECIFICATION: '28000',
  /** Class 28: invalid_password. */
  INVALID_PASSWORD: '28P01',
  /** Class 3D: invalid_catalog_name (unknown database). */
  INVALID_CATALOG_NAME: '3D000',
  /** Class 53: too_many_connections. */
  TOO_MANY_CONNECTIONS: '53300',
  /** Class 53: configuration_limit_exceeded. */
  CONFIGURATION_LIMIT_EXCEEDED: '53400',
  /** Class 54: program_limit_exceeded (message too large). */
  PROGRAM_LIMIT_EXCEEDED: '54000',
  /** Class 57: query_canceled. */
  QUERY_CANCELED: '57014',
  /** Class 57: admin_shutdown. */
  ADMIN_SHUTDOWN: '57P01',
  /** Class 57: cannot_connect_now (server starting or draining). */
  CANNOT_CONNECT_NOW: '57P03',
  /** Class 58: system_error. */
  SYSTEM_ERROR: '58000',
  /** Class XX: internal_error. */
  INTERNAL_ERROR: 'XX000',
} as const;
export type SqlState = (typeof SqlState)[keyof typeof SqlState];

/** The letter of a type byte, for errors and logs ("'Z'" or "0x00"). */
export function describeCode(code: number): string {
  return code >= 0x20 && code < 0x7f ? `'${String.fromCharCode(code)}'` : `0x${code.toString(16).padStart(2, '0')}`;
}
