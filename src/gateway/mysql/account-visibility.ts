/**
 * How IAM accounts look from SQL through the gateway. On the server an IAM
 * account is a password account whose hash is the gateway's managed
 * credential; RDS shows it as an AWSAuthenticationPlugin account. So the
 * gateway rewrites the rows of `SHOW GRANTS` and `SHOW CREATE USER` that name
 * a recorded IAM account: the `IDENTIFIED BY PASSWORD '*…'` clause becomes
 * the plugin clause of the engine (MariaDB: `IDENTIFIED VIA
 * AWSAuthenticationPlugin USING 'RDS'`; MySQL: `IDENTIFIED WITH
 * 'AWSAuthenticationPlugin' AS 'RDS'`). Pure: bytes in, bytes out.
 *
 * Fail safe: a statement of another shape passes unchanged (reads are not a
 * security decision); a response the rewriter cannot fully read (not a text
 * result set, a row split across frames) is refused rather than passed with
 * the hash in it.
 */
import { IamdbError } from '../../errors/index.js';
import { Capability, PayloadReader, PayloadWriter, encodePacket } from '../../protocol/mysql/index.js';
import type { Account } from './iam-users.js';

/** `SHOW GRANTS [FOR …]` or `SHOW CREATE USER …`, alone in its text (a trailing `;` allowed). */
const SHOW_ACCOUNT = /^\s*SHOW\s+(?:GRANTS|CREATE\s+USER)\b[^;]*;?\s*$/i;

/** Whether a COM_QUERY text is a statement whose rows the gateway rewrites. */
export function showsAccounts(sql: Buffer): boolean {
  // Comments could hide a second statement or an executable part: such texts pass unchanged.
  const text = sql.toString('latin1');
  return SHOW_ACCOUNT.test(text) && !/\/\*|--|#/.test(text);
}

/** The largest response the gateway buffers to rewrite. */
export const MAX_REWRITTEN_RESPONSE_BYTES = 1 << 20;

const ROW_ACCOUNT = /^(?:GRANT\s.*?\sTO|CREATE\s+USER)\s+`((?:[^`]|``)*)`@`((?:[^`]|``)*)`/s;
// MariaDB shows the managed credential as `BY PASSWORD '*…'`; MySQL 8 as `WITH '<plugin>' AS '<hash>'`
// (iamdb's hashes are letters, digits, `$`, `.` and `/`: no quote to escape).
const PASSWORD_CLAUSE = / IDENTIFIED (?:BY PASSWORD '\*[0-9A-Fa-f]{40}'|WITH '(?:caching_sha2_password|mysql_native_password)' AS '[$./0-9A-Za-z*]*')/;

/** The plugin clause the engine itself would show for an AWSAuthenticationPlugin account. */
export function pluginClause(engine: 'mysql' | 'mariadb' | 'postgres'): string {
  return engine === 'mysql' ? " IDENTIFIED WITH 'AWSAuthenticationPlugin' AS 'RDS'" : " IDENTIFIED VIA AWSAuthenticationPlugin USING 'RDS'";
}

/** One row of SHOW GRANTS / SHOW CREATE USER, with the password clause of an IAM account replaced. */
export function rewriteAccountLine(line: string, isIam: (a: Account) => boolean, clause: string): string {
  const m = ROW_ACCOUNT.exec(line);
  if (m === null) return line;
  const account = { user: m[1]!.replaceAll('``', '`'), host: m[2]!.replaceAll('``', '`') };
  return isIam(account) ? line.replace(PASSWORD_CLAUSE, clause) : line;
}

/**
 * Rewrites every text cell of a text-protocol result set with `cell`
 * (packets with their headers, as the server sent them; sequence ids kept).
 * An OK or ERR response passes as it is.
 */
export function rewriteTextResultSet(bytes: Buffer, capabilities: number, cell: (text: string) => string): Buffer {
  const packets = splitPackets(bytes);
  const first = packets[0]?.payload;
  if (first === undefined) throw unreadable('empty response');
  if (first[0] === 0x00 || first[0] === 0xff) return bytes;
  const columns = new PayloadReader(first, 'column count').readLengthEncodedInteger();
  const eofAfterColumns = (capabilities & Capability.CLIENT_DEPRECATE_EOF) === 0 ? 1 : 0;
  const rowsFrom = 1 + columns + eofAfterColumns;
  if (packets.length < rowsFrom + 1) throw unreadable('truncated result set');
  const out: Buffer[] = [];
  packets.forEach((p, i) => {
    const isEnd = p.payload[0] === 0xff || (p.payload[0] === 0xfe && p.payload.length < 9);
    out.push(i < rowsFrom || isEnd ? encodePacket(p.payload, p.seq) : encodePacket(rewriteRow(p.payload, columns, cell), p.seq));
  });
  return Buffer.concat(out);
}

function rewriteRow(payload: Buffer, columns: number, cell: (text: string) => string): Buffer {
  const r = new PayloadReader(payload, 'row');
  const w = new PayloadWriter('row', payload.length + 16);
  for (let c = 0; c < columns; c++) {
    if (payload[payload.length - r.remaining] === 0xfb) {
      r.readFixedLengthInteger(1);
      w.writeFixedLengthInteger(0xfb, 1);
    } else {
      w.writeLengthEncodedString(Buffer.from(cell(Buffer.from(r.readLengthEncodedBytes('cell')).toString('utf8')), 'utf8'));
    }
  }
  if (!r.atEnd) throw unreadable('row longer than its columns');
  return w.finish();
}

function splitPackets(bytes: Buffer): { seq: number; payload: Buffer }[] {
  const packets: { seq: number; payload: Buffer }[] = [];
  for (let at = 0; at < bytes.length; ) {
    if (at + 4 > bytes.length) throw unreadable('truncated header');
    const length = bytes.readUIntLE(at, 3);
    if (length === 0xffffff) throw unreadable('a packet split across frames');
    if (at + 4 + length > bytes.length) throw unreadable('truncated packet');
    packets.push({ seq: bytes[at + 3]!, payload: bytes.subarray(at + 4, at + 4 + length) });
    at += 4 + length;
  }
  return packets;
}

function unreadable(reason: string): IamdbError {
  return new IamdbError('GATEWAY_UNSUPPORTED', { what: `rewriting an account listing (${reason})` });
}
