import { describe, expect, it } from 'vitest';
import { decodePrepareOk, executeLayout, rewriteExecute, rewritePrepareOkId, statementIdOf, withStatementId } from './stmt-packets.js';

/** COM_STMT_EXECUTE of statement `id`, two parameters, types sent or not. */
function execute(id: number, withTypes: boolean): Buffer {
  const head = Buffer.from([0x17, 0, 0, 0, 0, 0x00, 1, 0, 0, 0]);
  head.writeUInt32LE(id, 1);
  const bitmap = Buffer.from([0]);
  const types = Buffer.from([0x08, 0x00, 0xfd, 0x00]);
  const values = Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 1, 0x61]);
  return Buffer.concat([head, bitmap, Buffer.from([withTypes ? 1 : 0]), ...(withTypes ? [types] : []), values]);
}

describe('statement packets', () => {
  it('reads and rewrites statement ids', () => {
    const p = execute(7, true);
    expect(statementIdOf(p)).toBe(7);
    expect(statementIdOf(withStatementId(p, 0xfffffffe))).toBe(0xfffffffe);
    expect(statementIdOf(p)).toBe(7);
  });

  it('finds the types an execute sends, and binds remembered ones into one that does not', () => {
    const sent = executeLayout(execute(1, true), 2)!;
    expect(sent.types).toEqual(Buffer.from([0x08, 0x00, 0xfd, 0x00]));
    const bare = execute(1, false);
    const layout = executeLayout(bare, 2)!;
    expect(layout.types).toBeUndefined();
    const out = rewriteExecute(bare, layout, 9, sent.types);
    // As if the client had sent the types itself, to statement 9.
    expect(out).toEqual(withStatementId(execute(1, true), 9));
    expect(executeLayout(Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0]), 1)).toBeUndefined();
  });

  it('rewrites the id of a framed COM_STMT_PREPARE OK', () => {
    const payload = Buffer.from([0x00, 5, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0]);
    const framed = Buffer.concat([Buffer.from([payload.length, 0, 0, 1]), payload]);
    rewritePrepareOkId(framed, 42);
    expect(decodePrepareOk(framed.subarray(4))).toEqual({ id: 42, columns: 2, params: 1 });
  });
});
