/**
 * The readings of a text the server may make, from what the session knows of
 * its sql_mode, and the text as chunks of bytes.
 */
import type { Reading } from './lexer.js';

/**
 * How the session's server reads a backslash in quoted text: 'escapes' (the
 * default sql_mode), 'no-escapes' (NO_BACKSLASH_ESCAPES), or 'unknown'
 * (every reading must then agree). The server reports it in each OK packet's
 * status flags as SERVER_STATUS_NO_BACKSLASH_ESCAPES.
 */
export type BackslashMode = 'escapes' | 'no-escapes' | 'unknown';

/** Statement text: a string (encoded as UTF-8 first), bytes, or the chunks of a long COM_QUERY in order. */
export type StatementText = string | Uint8Array | readonly Uint8Array[];

const BOTH_ESCAPE: Reading = { singleQuoteEscapes: true, doubleQuoteEscapes: true };
// ANSI_QUOTES (invisible to the gateway) makes "..." an identifier, where a backslash is plain text.
const ANSI_QUOTES: Reading = { singleQuoteEscapes: true, doubleQuoteEscapes: false };
const NO_ESCAPES: Reading = { singleQuoteEscapes: false, doubleQuoteEscapes: false };

/** The readings to check, first the one whose pass tells whether the others can differ. */
export function readingsFor(mode: BackslashMode): readonly Reading[] {
  switch (mode) {
    case 'escapes':
      return [BOTH_ESCAPE, ANSI_QUOTES];
    case 'no-escapes':
      return [NO_ESCAPES];
    default:
      return [BOTH_ESCAPE, ANSI_QUOTES, NO_ESCAPES];
  }
}

/**
 * Whether `other` can read the text differently from `first`, given what the
 * pass with `first` saw: only a backslash inside a quote whose treatment
 * differs can change anything.
 */
export function mayDiffer(
  first: Reading,
  other: Reading,
  seen: { readonly backslashInSingleQuotes: boolean; readonly backslashInDoubleQuotes: boolean },
): boolean {
  return (
    (first.singleQuoteEscapes !== other.singleQuoteEscapes && seen.backslashInSingleQuotes) ||
    (first.doubleQuoteEscapes !== other.doubleQuoteEscapes && seen.backslashInDoubleQuotes)
  );
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
