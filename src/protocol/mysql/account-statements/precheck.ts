/**
 * The cheap first look: can this text be account management, KILL, dynamic
 * SQL or a change of the client character set at all? It reads the bytes
 * once per reading that may differ (more than once only when a backslash
 * inside quotes, or a '[', makes sql_modes differ, or executable comments
 * make servers differ; at most MAX_PRECHECK_PASSES), keeps a few integers of
 * state, and allocates nothing per token, whatever the length: a 64 MiB
 * INSERT costs one pass and no garbage.
 *
 * `false` is a promise: {@link classifyStatement} says 'other' for this text.
 */
import { CommentsMet, ServerReadings, type ServerReading } from './executable-comments.js';
import { isKeywordByte, isLetter, keywordOf, letterCode, KW, MAX_KEYWORD_LENGTH, type Keyword } from './keywords.js';
import { Lexer, type LexMode, type LexSink, type PhaseSeen } from './lexer.js';
import { chunksOf, phaseMayDiffer, readingSetFor, type BackslashMode, type ReadingSet, type StatementText } from './readings.js';
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
  /** The session's backslash mode, for the text's first statement (default 'unknown': every reading must agree). */
  readonly backslashes?: BackslashMode;
  /** Incremented with the work done. */
  readonly counters?: ClassifyCounters;
}

/**
 * Most passes the pre-check makes over one text; a text whose readings
 * differ in more ways than that goes to the full reading (and, when longer
 * than MAX_VERIFIED_BYTES, is refused). Ordinary texts need one to three
 * (a dump's statements with executable comments two or three).
 */
export const MAX_PRECHECK_PASSES = 8;

const SEMICOLON = 0x3b;

/**
 * Feeds the scanner and stops the lexer at the first flag (or, for a pass
 * over the first statement, after its ';'). It also flags a statement after
 * the first that may change the sql_mode when something after it reads
 * differently in another mode (`SELECT 1; SET sql_mode = IF(...); SELECT
 * 'a\\'; DROP USER b -- '`): the readings of the rest assume one mode for
 * all of it.
 */
class PrecheckSink implements LexSink {
  readonly scanner = new StatementScanner();
  flagged = false;
  ambiguousSeen = false;
  /** Offset just after the first statement's ';' (first-statement passes stop there), or -1. */
  firstEnd = -1;
  /** Whether that ';' was inside a run executable comment (the rest is read from there on). */
  firstEndInExecutable = false;
  /** lexer.modeSensitive when the first statement that may change sql_mode ended, or -1. */
  modeChangedAt = -1;

  lexer!: Lexer;

  constructor(private readonly firstStatementOnly: boolean) {}

  word(_start: number, _end: number, keyword: Keyword): void {
    this.#flag(this.scanner.word(keyword) !== Flag.NONE);
  }
  quoted(start: number, end: number, quote: number): void {
    this.#flag(this.scanner.quoted(quote, end - start) !== Flag.NONE);
  }
  punct(at: number, byte: number): void {
    if (byte === SEMICOLON) {
      if (this.firstStatementOnly) {
        this.firstEnd = at + 1;
        this.firstEndInExecutable = this.lexer.inExecutable;
        this.lexer.stop();
        return;
      }
      if (this.lexer.inRest && this.modeChangedAt === -1 && this.scanner.mayChangeMode) this.modeChangedAt = this.lexer.modeSensitive;
    }
    this.scanner.punct(byte);
    this.lexer.skim = this.scanner.skipping;
  }
  ambiguous(): void {
    this.ambiguousSeen = true;
  }
  #flag(raised: boolean): void {
    if (raised) {
      this.flagged = true;
      this.lexer.stop();
    }
    this.lexer.skim = this.scanner.skipping;
  }
}

interface PassResult {
  readonly verdict: boolean | 'ambiguous';
  /** What the pass saw that other modes may read differently. */
  readonly seen: PhaseSeen;
  /** For a first-statement pass: where the rest starts, or -1 when the text has no rest. */
  readonly firstEnd: number;
  /** For a first-statement pass: whether the rest starts inside a run executable comment. */
  readonly firstEndInExecutable: boolean;
}

/** Where the rest of a text starts, in one reading of its first statement. */
interface RestStart {
  readonly from: number;
  readonly inExecutable: boolean;
}

/** The chunks from byte `from` on (views, no copy). */
function chunksFrom(chunks: readonly Uint8Array[], from: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  for (const chunk of chunks) {
    if (at + chunk.length > from) out.push(from > at ? chunk.subarray(from - at) : chunk);
    at += chunk.length;
  }
  return out;
}

/** One server's passes: which it is, what they met, and how many passes the whole pre-check made. */
interface ServerPasses {
  readonly server: ServerReading;
  readonly met: CommentsMet;
  passes: number;
}

/**
 * One pass in one mode, as one server: over the first statement only
 * (`rest` is undefined), or over everything after the first statement,
 * which starts at `rest.from` with a fresh statement (the scanner and the
 * lexer are at a statement start after any ';'; the lexer still inside a
 * run executable comment if the ';' was).
 */
function pass(chunks: readonly Uint8Array[], mode: LexMode, rest: RestStart | undefined, as: ServerPasses, counters: ClassifyCounters | undefined): PassResult {
  const sink = new PrecheckSink(rest === undefined);
  const lexer = new Lexer({ first: mode, rest: mode }, sink, as.server, as.met);
  sink.lexer = lexer;
  if (rest !== undefined) {
    lexer.inRest = true;
    lexer.inExecutable = rest.inExecutable;
  }
  for (const chunk of rest === undefined ? chunks : chunksFrom(chunks, rest.from)) {
    lexer.push(chunk);
    if (sink.flagged || sink.ambiguousSeen || sink.firstEnd !== -1) break;
  }
  lexer.end();
  if (counters !== undefined) {
    counters.passes++;
    counters.bytesScanned += lexer.offset;
  }
  const modeChangeMatters = sink.modeChangedAt !== -1 && lexer.modeSensitive > sink.modeChangedAt;
  return {
    verdict: sink.ambiguousSeen ? 'ambiguous' : sink.flagged || modeChangeMatters,
    seen: rest === undefined ? lexer.seen.first : lexer.seen.rest,
    firstEnd: sink.firstEnd,
    firstEndInExecutable: sink.firstEndInExecutable,
  };
}

/**
 * Words that any account statement, KILL, dynamic SQL or character set
 * change must contain, in every reading of any comment.
 */
const RAW_WORDS = new Set<number>([
  KW.USER, KW.PASSWORD, KW.IDENTIFIED, KW.GRANT, KW.KILL, KW.PREPARE, KW.EXECUTE, KW.BINLOG, KW.CHARACTER_SET_CLIENT,
  KW.EXECUTE_PREPARED_STMT,
]);
/** Words that start a character set change after SET or ','. */
const RAW_AFTER_SET = new Set<number>([KW.NAMES, KW.CHARACTER, KW.CHARSET, KW.CHAR]);

/**
 * The fallback when comments make the structure ambiguous: true when one of
 * {@link RAW_WORDS} appears anywhere as a whole word, even inside strings
 * and comments, or one of {@link RAW_AFTER_SET} after the word SET or a ','.
 * Leading digits are dropped because an executable comment's version number
 * may run into the word after it (`/*!50000DROP USER`).
 */
function rawWordsPresent(chunks: readonly Uint8Array[], counters: ClassifyCounters | undefined): boolean {
  let inWord = false;
  let leading = true;
  let packable = true;
  let length = 0;
  let g0 = 0;
  let g1 = 0;
  let g2 = 0;
  let g3 = 0;
  let previous: Keyword = KW.NONE;
  let commaSince = false;
  const finish = (): boolean => {
    if (!inWord) return false;
    const kw = packable ? keywordOf(length, g0, g1, g2, g3) : KW.NONE;
    if (RAW_WORDS.has(kw) || (RAW_AFTER_SET.has(kw) && (previous === KW.SET || commaSince))) return true;
    previous = kw;
    commaSince = false;
    return false;
  };
  for (const chunk of chunks) {
    if (counters !== undefined) counters.bytesScanned += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i] as number;
      const wordByte = b >= 0x80 || b === 0x24 || b === 0x5f || (b >= 0x30 && b <= 0x39) || isLetter(b);
      if (!wordByte) {
        if (finish()) return true;
        inWord = false;
        if (b === 0x2c) commaSince = true;
        continue;
      }
      if (!inWord) {
        inWord = true;
        leading = true;
        packable = true;
        length = 0;
        g0 = g1 = g2 = g3 = 0;
      }
      if (leading && b >= 0x30 && b <= 0x39) continue;
      leading = false;
      if (packable && isKeywordByte(b) && length < MAX_KEYWORD_LENGTH) {
        const code = letterCode(b);
        if (length < 6) g0 = g0 * 32 + code;
        else if (length < 12) g1 = g1 * 32 + code;
        else if (length < 18) g2 = g2 * 32 + code;
        else g3 = g3 * 32 + code;
      } else packable = false;
      length++;
    }
  }
  return finish();
}

/**
 * The pre-check as one server: true or 'ambiguous' as soon as a pass says
 * so, or when the passes of the whole pre-check exceed MAX_PRECHECK_PASSES.
 *
 * The first statement is read in each of `set.first`, the rest (from where
 * each of those readings ends the first statement) in each of `set.rest`.
 * A mode is passed over when an earlier pass over the same stretch shows it
 * cannot read it differently: most texts take one pass, a batch of
 * statements with backslashes in quotes two or three.
 */
function precheckAs(chunks: readonly Uint8Array[], set: ReadingSet, as: ServerPasses, counters: ClassifyCounters | undefined): boolean | 'ambiguous' {
  const firstDone: { mode: LexMode; seen: PhaseSeen }[] = [];
  const restStarts = new Map<string, RestStart>();
  for (const mode of set.first) {
    if (firstDone.some((d) => !phaseMayDiffer(d.mode, mode, d.seen))) continue;
    if (++as.passes > MAX_PRECHECK_PASSES) return true;
    const result = pass(chunks, mode, undefined, as, counters);
    if (result.verdict !== false) return result.verdict;
    firstDone.push({ mode, seen: result.seen });
    if (result.firstEnd !== -1) restStarts.set(`${result.firstEnd}:${result.firstEndInExecutable}`, { from: result.firstEnd, inExecutable: result.firstEndInExecutable });
  }
  for (const rest of restStarts.values()) {
    const restDone: { mode: LexMode; seen: PhaseSeen }[] = [];
    for (const mode of set.rest) {
      if (restDone.some((d) => !phaseMayDiffer(d.mode, mode, d.seen))) continue;
      if (++as.passes > MAX_PRECHECK_PASSES) return true;
      const result = pass(chunks, mode, rest, as, counters);
      if (result.verdict !== false) return result.verdict;
      restDone.push({ mode, seen: result.seen });
    }
  }
  return false;
}

/**
 * The pre-check over chunks, for a set of readings. True when some reading
 * raises a flag, or when comments are ambiguous and a telling word appears.
 * Every server that reads the text's executable comments differently is a
 * reading too (executable-comments.ts); a text that needs more than
 * MAX_SERVER_READINGS goes to the full reading.
 */
export function precheckChunks(chunks: readonly Uint8Array[], set: ReadingSet, counters?: ClassifyCounters): boolean {
  const servers = new ServerReadings();
  let passes = 0;
  for (let server = servers.next(); server !== undefined; server = servers.next()) {
    const as: ServerPasses = { server, met: new CommentsMet(), passes };
    const verdict = precheckAs(chunks, set, as, counters);
    if (verdict === 'ambiguous') return rawWordsPresent(chunks, counters);
    if (verdict) return true;
    passes = as.passes;
    servers.record(server, as.met);
  }
  return servers.exceeded;
}

/**
 * Whether a COM_QUERY text may be account management, KILL, dynamic SQL or
 * a change of the client character set, so that the session must hold it
 * and call {@link classifyStatement}.
 * `false` guarantees that classifyStatement returns `{ kind: 'other' }`.
 * Needs no allocation per token and reads invalid UTF-8 like any bytes.
 *
 * @example
 *   if (!needsClassification(payload.subarray(1), { backslashes: 'escapes' })) forward(payload);
 */
export function needsClassification(text: StatementText, options: ClassifyOptions = {}): boolean {
  return precheckChunks(chunksOf(text), readingSetFor(options.backslashes ?? 'unknown'), options.counters);
}
