/**
 * Messages a PostgreSQL server sends that iamdb builds (front door) or reads
 * (upstream login): encoders, decoders and one dispatcher.
 *
 * @module
 */
import { ByteReader } from '../../common/byte-reader.js';
import { BackendCode, describeCode } from '../codes.js';
import type { Frame } from '../frame-decoder.js';
import { decodeAuthentication, type AuthenticationMessage } from './authentication.js';
import { decodeBackendKeyData, type BackendKeyData } from './backend-key-data.js';
import { decodeErrorResponse, decodeNoticeResponse, type ErrorResponse, type NoticeResponse } from './error-response.js';
import { decodeNegotiateProtocolVersion, type NegotiateProtocolVersion } from './negotiate-protocol-version.js';
import { decodeParameterStatus, type ParameterStatus } from './parameter-status.js';
import { decodeReadyForQuery, type ReadyForQuery } from './ready-for-query.js';

export * from './authentication.js';
export * from './backend-key-data.js';
export * from './error-response.js';
export * from './negotiate-protocol-version.js';
export * from './parameter-status.js';
export * from './ready-for-query.js';

/** A message type this layer does not decode, kept whole. */
export interface UnknownBackendMessage {
  readonly type: 'Unknown';
  readonly code: number;
  readonly bytes: Buffer;
}

/** Every backend message this layer decodes. */
export type BackendMessage =
  | AuthenticationMessage
  | BackendKeyData
  | ErrorResponse
  | NoticeResponse
  | NegotiateProtocolVersion
  | ParameterStatus
  | ReadyForQuery
  | UnknownBackendMessage;

/**
 * Decodes one backend frame. Types outside the login set come back as
 * `Unknown` with a copy of the body.
 *
 * @example
 *   for (const frame of frames.feed(chunk)) {
 *     const msg = decodeBackendMessage(frame);
 *     if (msg.type === 'ErrorResponse') console.log(msg.fields.code);
 *   }
 */
export function decodeBackendMessage(frame: Frame): BackendMessage {
  switch (frame.type) {
    case BackendCode.Authentication:
      return decodeAuthentication(new ByteReader(frame.body, 'Authentication'));
    case BackendCode.BackendKeyData:
      return decodeBackendKeyData(new ByteReader(frame.body, 'BackendKeyData'));
    case BackendCode.ErrorResponse:
      return decodeErrorResponse(new ByteReader(frame.body, 'ErrorResponse'));
    case BackendCode.NoticeResponse:
      return decodeNoticeResponse(new ByteReader(frame.body, 'NoticeResponse'));
    case BackendCode.NegotiateProtocolVersion:
      return decodeNegotiateProtocolVersion(new ByteReader(frame.body, 'NegotiateProtocolVersion'));
    case BackendCode.ParameterStatus:
      return decodeParameterStatus(new ByteReader(frame.body, 'ParameterStatus'));
    case BackendCode.ReadyForQuery:
      return decodeReadyForQuery(new ByteReader(frame.body, 'ReadyForQuery'));
    default:
      return { type: 'Unknown', code: frame.type, bytes: Buffer.from(frame.body) };
  }
}

/** Names a backend message for errors: its decoded type, or the letter of an unknown one. */
export function describeBackendMessage(msg: BackendMessage): string {
  return msg.type === 'Unknown' ? `message ${describeCode(msg.code)}` : msg.type;
}
