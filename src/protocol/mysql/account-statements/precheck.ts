/**
 * The cheap first look: can this text be account management, KILL or
 * dynamic SQL at all? It reads the bytes once per reading (twice or three
 * times only when a backslash inside quotes makes readings differ), keeps a
 * few integers of state, and allocates nothing per token, whatever the
 * length: a 64 MiB INSERT costs one pass and no garbage.
 *
 * `false` is a promise: {@link classifyStatement} says 'other' for this text.
 */
import { isLetter, keywordOf, letterCode, KW, type Keyword } from './keywords.js';
import { Lexer, type LexSink, type Reading } from './lexer.js';
import { chunksOf, mayDiffer, readingsFor, type BackslashMode, type StatementText } from './readings.js';
import { Flag, StatementScanner } from './scanner.js';

/** Work counters, for metrics and for tests that bound the work done. */
export interface ClassifyCounters {
  /** Lexer passes over the whole text (one per reading looked at). */
  passes: number;
  /** Bytes read by those passes. */
  bytesScanned: number;
  /** Times the full reading (token objects, statement parser) ran. */
  fullReadings: number;
  /** Token objects the full reading made. */
  tokens: number;
}

/** Options of {@link needsClassification} and {@link classifyStatement}. */
export interface ClassifyOptions {
  /** The session's backslash mode (default 'unknown': every reading must agree). */
  readonly backslashes?: BackslashMode;
  /** Incremented with the work done. */
  readonly counters?: ClassifyCounters;
}

/** Feeds the scanner and stops the lexer at the first flag. */
class PrecheckSink implements LexSink {
  readonly scanner = new StatementScanner();
  flagged = false;
  ambiguousSeen = false;
  lexer!: Lexer;

  word(_start: number, _end: number, keyword: Keyword): void {
    if (this.scanner.word(keyword) !== Flag.NONE) {
      this.flagged = true;
      this.lexer.stop();
    }
    this.lexer.skim = this.scanner.skipping;
  }
  quoted(): void {
    this.scanner.quoted();
    this.lexer.skim = this.scanner.skipping;
  }
  punct(_at: number, byte: number): void {
    this.scanner.punct(byte);
    this.lexer.skim = this.scanner.skipping;
  }
  ambiguous(): void {
    this.ambiguousSeen = true;
  }
}

type PassResult = { readonly verdict: boolean | 'ambiguous'; readonly lexer: Lexer };

function pass(chunks: readonly Uint8Array[], reading: Reading, counters: ClassifyCounters | undefined): PassResult {
  const sink = new PrecheckSink();
  const lexer = new Lexer(reading, sink);
  sink.lexer = lexer;
  for (const chunk of chunks) {
    lexer.push(chunk);
    if (sink.flagged || sink.ambiguousSeen) break;
  }
  lexer.end();
  if (counters !== undefined) {
    counters.passes++;
    counters.bytesScanned += lexer.offset;
  }
  return { verdict: sink.ambiguousSeen ? 'ambiguous' : sink.flagged, lexer };
}

/** Words that any account statement, KILL or dynamic SQL must contain, in every reading of any comment. */
const RAW_WORDS = new Set<number>([KW.USER, KW.PASSWORD, KW.IDENTIFIED, KW.GRANT, KW.KILL, KW.PREPARE, KW.EXECUTE, KW.BINLOG]);

/**
 * The fallback when comments make the structure ambiguous: true when one of
 * {@link RAW_WORDS} appears anywhere as a whole word, even inside strings
 * and comments. Leading digits are dropped because an executable comment's
 * version number may run into the word after it (`/*!50000DROP USER`).
 */
function rawWordsPresent(chunks: readonly Uint8Array[], counters: ClassifyCounters | undefined): boolean {
  let inWord = false;
  let leading = true;
  let letters = true;
  let length = 0;
  let lo = 0;
  let hi = 0;
  const finish = (): boolean => inWord && letters && length > 0 && RAW_WORDS.has(keywordOf(length, lo, hi));
  for (const chunk of chunks) {
    if (counters !== undefined) counters.bytesScanned += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      const wordByte = b >= 0x80 || b === 0x24 || b === 0x5f || (b >= 0x30 && b <= 0x39) || isLetter(b);
      if (!wordByte) {
        if (finish()) return true;
        inWord = false;
        continue;
      }
      if (!inWord) {
        inWord = true;
        leading = true;
        letters = true;
        length = 0;
        lo = 0;
        hi = 0;
      }
      if (leading && b >= 0x30 && b <= 0x39) continue;
      leading = false;
      if (letters && isLetter(b)) {
        if (length < 6) lo = lo * 32 + letterCode(b);
        else if (length < 12) hi = hi * 32 + letterCode(b);
        length++;
      } else letters = false;
    }
  }
  return finish();
}

/**
 * The pre-check over chunks, for the given readings. True when some reading
 * raises a flag, or when comments are ambiguous and a telling word appears.
 */
export function precheckChunks(
  chunks: readonly Uint8Array[],
  readings: readonly Reading[],
  counters?: ClassifyCounters,
): boolean {
  const first = readings[0] as Reading;
  const firstPass = pass(chunks, first, counters);
  if (firstPass.verdict === 'ambiguous') return rawWordsPresent(chunks, counters);
  if (firstPass.verdict) return true;
  for (const reading of readings.slice(1)) {
    if (!mayDiffer(first, reading, firstPass.lexer)) continue;
    const other = pass(chunks, reading, counters);
    if (other.verdict === 'ambiguous') return rawWordsPresent(chunks, counters);
    if (other.verdict) return true;
  }
  return false;
}

/**
 * Whether a COM_QUERY text may be account management, KILL or dynamic SQL,
 * so that the session must hold it and call {@link classifyStatement}.
 * `false` guarantees that classifyStatement returns `{ kind: 'other' }`.
 * Needs no allocation per token and reads invalid UTF-8 like any bytes.
 *
 * @example
 *   if (!needsClassification(payload.subarray(1), { backslashes: 'escapes' })) forward(payload);
 */
export function needsClassification(text: StatementText, options: ClassifyOptions = {}): boolean {
  return precheckChunks(chunksOf(text), readingsFor(options.backslashes ?? 'unknown'), options.counters);
}
