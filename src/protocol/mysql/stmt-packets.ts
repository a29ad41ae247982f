/**
 * Binary prepared statement packets, as far as a pooler rewrites them: the
 * statement id of COM_STMT_PREPARE's OK, COM_STMT_EXECUTE,
 * COM_STMT_SEND_LONG_DATA, COM_STMT_FETCH, COM_STMT_RESET and
 * COM_STMT_CLOSE, and COM_STMT_EXECUTE's parameter types (which a client
 * sends once and a statement prepared again on another connection needs
 * again). Pure; nothing here reads parameter values.
 *
 * COM_STMT_EXECUTE: 0x17, id (4), flags (1), iteration count (4); with
 * parameters: NULL bitmap ((n + 7) / 8 bytes), new-params-bound flag (1),
 * then when that flag is 1 the types (2 bytes each), then the values.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_stmt_execute.html
 * @see https://mariadb.com/kb/en/com_stmt_execute/
 */
import { Command } from './constants.js';

/** The statement id at payload[1..5) of the COM_STMT_* commands that carry one. */
export function statementIdOf(payload: Uint8Array): number {
  return payload.length < 5 ? -1 : ((payload[1]! | (payload[2]! << 8) | (payload[3]! << 16)) >>> 0) + payload[4]! * 0x1000000;
}

/** A copy of a COM_STMT_* payload naming statement `id` instead. */
export function withStatementId(payload: Uint8Array, id: number): Buffer {
  const out = Buffer.from(payload);
  out.writeUInt32LE(id >>> 0, 1);
  return out;
}

/** COM_STMT_PREPARE's OK: statement id, columns and parameters (payload[0] is 0x00). */
export function decodePrepareOk(payload: Uint8Array): { id: number; columns: number; params: number } | undefined {
  if (payload.length < 9 || payload[0] !== 0x00) return undefined;
  return { id: statementIdOf(payload), columns: payload[5]! | (payload[6]! << 8), params: payload[7]! | (payload[8]! << 8) };
}

/** A framed response whose first packet is a COM_STMT_PREPARE OK, its id changed (in place). */
export function rewritePrepareOkId(framed: Buffer, id: number): void {
  framed.writeUInt32LE(id >>> 0, 5);
}

/** Where COM_STMT_EXECUTE keeps its parameter types. */
export interface ExecuteLayout {
  /** Offset of the new-params-bound flag (-1: no parameters). */
  readonly boundFlagAt: number;
  /** The types sent with this execute (a view), when the flag is 1. */
  readonly types: Buffer | undefined;
  /** Cursor flags asked for (byte 5 & 0x07). */
  readonly cursor: boolean;
}

/** COM_STMT_EXECUTE's layout for a statement of `params` parameters; undefined when too short to hold what it must. */
export function executeLayout(payload: Buffer, params: number): ExecuteLayout | undefined {
  if (payload.length < 10 || payload[0] !== Command.COM_STMT_EXECUTE) return undefined;
  const cursor = (payload[5]! & 0x07) !== 0;
  if (params === 0) return { boundFlagAt: -1, types: undefined, cursor };
  const at = 10 + ((params + 7) >> 3);
  if (payload.length <= at) return undefined;
  if (payload[at] !== 1) return { boundFlagAt: at, types: undefined, cursor };
  if (payload.length < at + 1 + 2 * params) return undefined;
  return { boundFlagAt: at, types: payload.subarray(at + 1, at + 1 + 2 * params), cursor };
}

/** COM_STMT_EXECUTE for server statement `id`, with `types` bound when the client's packet did not send them. */
export function rewriteExecute(payload: Buffer, layout: ExecuteLayout, id: number, types: Buffer | undefined): Buffer {
  if (types === undefined || layout.boundFlagAt < 0 || layout.types !== undefined) return withStatementId(payload, id);
  const at = layout.boundFlagAt;
  const out = Buffer.concat([payload.subarray(0, at), Buffer.from([1]), types, payload.subarray(at + 1)]);
  out.writeUInt32LE(id >>> 0, 1);
  return out;
}

/** COM_STMT_CLOSE of server statement `id` (no response). */
export function encodeStmtClose(id: number): Buffer {
  const out = Buffer.alloc(5);
  out[0] = Command.COM_STMT_CLOSE;
  out.writeUInt32LE(id >>> 0, 1);
  return out;
}
