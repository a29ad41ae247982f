/**
 * Dynamic SQL: PREPARE name FROM source, EXECUTE IMMEDIATE source. A source
 * that is a string literal (or literals side by side, with an optional
 * introducer) is read like a statement, in every mode the server may parse
 * it in; any other source (a user variable, CONCAT(...)) cannot be read, and
 * the verdict says so (`unreadDynamicSql`).
 *
 * @see https://mariadb.com/kb/en/prepare-statement/
 * @see https://mariadb.com/kb/en/execute-immediate/
 * @see https://dev.mysql.com/doc/refman/8.0/en/prepare.html
 */
import { Cursor, NotUnderstood } from './cursor.js';
import type { LexMode } from './lexer.js';
import type { ClassifyCounters } from './precheck.js';
import type { Token, TokenText } from './tokens.js';
import type { StatementVerdict } from './types.js';
import { insideVerdict, UNREAD_DYNAMIC_SQL, unknown } from './verdicts.js';

/** What the statement parsers need to know about the text a statement came from. */
export interface Context {
  readonly text: TokenText;
  /** The mode the statement was read in. */
  readonly mode: LexMode;
  /** How deep in dynamic SQL (or SET STATEMENT) this statement is. */
  readonly depth: number;
  readonly counters: ClassifyCounters | undefined;
  /** Reads the text of a dynamic SQL literal, one level deeper, in every mode that reads backslashes like `mode`. */
  readonly readLiteral: (literal: Uint8Array, mode: LexMode, depth: number) => StatementVerdict;
}

/** Dynamic SQL inside dynamic SQL (or SET STATEMENT inside SET STATEMENT) deeper than this is not read. */
export const MAX_NESTING = 2;

/** The single-or-concatenated string literal that makes up `tokens`, or undefined for any other expression. */
function literalValue(tokens: readonly Token[], text: TokenText): Uint8Array | undefined {
  let i = 0;
  const first = tokens[0];
  const second = tokens[1];
  // An introducer (_utf8mb4'...', N'...') right before the first string.
  if (first?.type === 'word' && second?.type === 'quoted' && first.end === second.start) {
    const word = text.upper(first);
    if (word === 'N' || word.startsWith('_')) i = 1;
  }
  const parts: Uint8Array[] = [];
  for (; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (tok.type !== 'quoted' || (tok.byte !== 0x27 && tok.byte !== 0x22)) return undefined;
    parts.push(text.value(tok));
  }
  return parts.length === 0 ? undefined : Buffer.concat(parts);
}

/** The verdict on a PREPARE/EXECUTE IMMEDIATE source: its literal text is classified like a statement. */
function dynamicSource(source: readonly Token[], what: string, ctx: Context): StatementVerdict {
  const literal = literalValue(source, ctx.text);
  if (literal === undefined) return UNREAD_DYNAMIC_SQL;
  if (ctx.depth + 1 > MAX_NESTING) return unknown(`${what} nested too deeply`);
  return insideVerdict(ctx.readLiteral(literal, ctx.mode, ctx.depth + 1), what);
}

/** PREPARE name FROM source, at the cursor. */
export function prepare(c: Cursor, ctx: Context): StatementVerdict {
  c.expectWord('PREPARE');
  const name = c.next();
  if (name.type === 'punct') throw new NotUnderstood('PREPARE without a name');
  c.expectWord('FROM');
  return dynamicSource(c.tokens.slice(c.index), 'PREPARE', ctx);
}

/** EXECUTE IMMEDIATE source [USING ...], at the cursor. */
export function executeImmediate(c: Cursor, ctx: Context): StatementVerdict {
  c.expectWord('EXECUTE');
  c.expectWord('IMMEDIATE');
  const using = c.findWordAtDepthZero('USING');
  return dynamicSource(c.tokens.slice(c.index, using === -1 ? undefined : using), 'EXECUTE IMMEDIATE', ctx);
}
