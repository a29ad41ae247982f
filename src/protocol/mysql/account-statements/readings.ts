/**
 * The readings of a text the server may make, from what the session knows of
 * its sql_mode, and the text as chunks of bytes.
 *
 * The session knows one thing: whether NO_BACKSLASH_ESCAPES is on (the
 * server reports it in every OK packet). ANSI_QUOTES and MariaDB's MSSQL
 * mode (brackets) are invisible to it, so every reading that agrees with the
 * backslash mode is checked. The known mode holds for the first statement of
 * a text only: a multi-statement text may change sql_mode before the server
 * parses its later statements, so those are read in every mode.
 */
import type { LexMode, PhaseSeen, Reading } from './lexer.js';

/**
 * How the session's server reads a backslash in quoted text: 'escapes' (the
 * default sql_mode), 'no-escapes' (NO_BACKSLASH_ESCAPES), or 'unknown'
 * (every reading must then agree). The server reports it in each OK packet's
 * status flags as SERVER_STATUS_NO_BACKSLASH_ESCAPES.
 */
export type BackslashMode = 'escapes' | 'no-escapes' | 'unknown';

/** Statement text: a string (encoded as UTF-8 first), bytes, or the chunks of a long COM_QUERY in order. */
export type StatementText = string | Uint8Array | readonly Uint8Array[];

/** The default sql_mode. */
const ESCAPES: LexMode = { singleQuoteEscapes: true, doubleQuoteEscapes: true, brackets: false };
/** ANSI_QUOTES: "..." is an identifier, where a backslash is plain text. */
const ANSI_QUOTES: LexMode = { singleQuoteEscapes: true, doubleQuoteEscapes: false, brackets: false };
/** NO_BACKSLASH_ESCAPES, with or without ANSI_QUOTES (the two lex alike). */
const NO_ESCAPES: LexMode = { singleQuoteEscapes: false, doubleQuoteEscapes: false, brackets: false };
/** MariaDB's MSSQL (which always brings ANSI_QUOTES): [...] is an identifier too. */
const MSSQL: LexMode = { singleQuoteEscapes: true, doubleQuoteEscapes: false, brackets: true };
/** MSSQL with NO_BACKSLASH_ESCAPES. */
const MSSQL_NO_ESCAPES: LexMode = { singleQuoteEscapes: false, doubleQuoteEscapes: false, brackets: true };

/** Every mode a statement after the first may be read in. */
const ALL_MODES: readonly LexMode[] = [ESCAPES, ANSI_QUOTES, NO_ESCAPES, MSSQL, MSSQL_NO_ESCAPES];

/** The modes the first statement may be read in, for a backslash mode. */
export function modesFor(mode: BackslashMode): readonly LexMode[] {
  switch (mode) {
    case 'escapes':
      return [ESCAPES, ANSI_QUOTES, MSSQL];
    case 'no-escapes':
      return [NO_ESCAPES, MSSQL_NO_ESCAPES];
    default:
      return ALL_MODES;
  }
}

/** The modes a text's first statement, and the statements after its first ';', may be read in. */
export interface ReadingSet {
  readonly first: readonly LexMode[];
  readonly rest: readonly LexMode[];
}

/** The readings of a COM_QUERY text, for the session's backslash mode. */
export function readingSetFor(mode: BackslashMode): ReadingSet {
  return { first: modesFor(mode), rest: ALL_MODES };
}

/**
 * The readings of a dynamic SQL literal, parsed in the sql_mode of the
 * statement that holds it: every mode that reads backslashes alike, since
 * ANSI_QUOTES and MSSQL are invisible. (It is one statement: the server
 * refuses to prepare more.)
 */
export function literalReadingSet(mode: LexMode): ReadingSet {
  const modes = modesFor(mode.singleQuoteEscapes ? 'escapes' : 'no-escapes');
  return { first: modes, rest: modes };
}

/** Every (first, rest) pair of a set; first the one whose pass tells whether the others can differ. */
export function readingsOf(set: ReadingSet): readonly Reading[] {
  const first = set.first[0] as LexMode;
  const out: Reading[] = [{ first, rest: first }];
  for (const f of set.first) for (const rest of set.rest) if (f !== first || rest !== first) out.push({ first: f, rest });
  return out;
}

/** Whether mode `b` can read a stretch of text differently from `a`, given what a pass with `a` saw there. */
export function phaseMayDiffer(a: LexMode, b: LexMode, seen: PhaseSeen): boolean {
  return (
    (a.singleQuoteEscapes !== b.singleQuoteEscapes && seen.backslashInSingleQuotes) ||
    (a.doubleQuoteEscapes !== b.doubleQuoteEscapes && seen.backslashInDoubleQuotes) ||
    (a.brackets !== b.brackets && seen.openBracket)
  );
}

/**
 * Whether `other` can read the text differently from `done`, given what the
 * pass with `done` saw: only a backslash inside a quote whose treatment
 * differs, or a '[' where brackets differ, can change anything, in the phase
 * (first statement or rest) where the two readings differ. Both switch to
 * their rest mode at the same ';' as long as they read alike up to it.
 */
export function mayDiffer(done: Reading, other: Reading, seen: { readonly first: PhaseSeen; readonly rest: PhaseSeen }): boolean {
  return phaseMayDiffer(done.first, other.first, seen.first) || phaseMayDiffer(done.rest, other.rest, seen.rest);
}

/** The server's mode from an OK/EOF packet's status flags. */
export function backslashModeFromStatus(statusFlags: number): Exclude<BackslashMode, 'unknown'> {
  // SERVER_STATUS_NO_BACKSLASH_ESCAPES (1 << 9), see constants.ts.
  return (statusFlags & 0x200) !== 0 ? 'no-escapes' : 'escapes';
}

/** The text as a list of byte chunks (a string is encoded once). */
export function chunksOf(text: StatementText): readonly Uint8Array[] {
  if (typeof text === 'string') return [Buffer.from(text, 'utf8')];
  if (text instanceof Uint8Array) return [text];
  return text;
}

/** Total length of the chunks in bytes. */
export function totalLength(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}
