/**
 * The lexical structure of MySQL/MariaDB statement text, read from bytes in
 * one pass that allocates nothing per token: words, quoted text, punctuation,
 * whitespace and the three comment forms. The structure is ASCII, so bytes of
 * any ASCII-transparent character set (utf8mb4, latin1, binary data in
 * strings) read the same; invalid UTF-8 never stops the lexer.
 *
 * Input may arrive in chunks (the frames of a long COM_QUERY): every
 * multi-byte form (`''`, `\'`, `-- `, `/*`, `*\/`, `/*!50003`) may be cut
 * anywhere.
 *
 * Executable comments are read as one server would (executable-comments.ts
 * says which servers run which): skipped, a comment; run, their markers
 * produce no token and their content is code, up to the first `*\/` outside
 * quoted text and comments. A `;` does not end a run comment: inside a
 * compound statement the server reads on to its `*\/`; at the top level
 * MariaDB 10.11 refuses the whole text, which reading on over-approximates.
 *
 * Time is linear: each byte is looked at once per pass, in tight loops for
 * quoted text, line comments and (while the sink skims) whole statements.
 *
 * @see https://mariadb.com/kb/en/comment-syntax/
 * @see https://mariadb.com/kb/en/string-literals/
 * @see https://mariadb.com/kb/en/sql_modemssql/
 * @see https://dev.mysql.com/doc/refman/8.0/en/string-literals.html
 */
import { CommentsMet, decide, Decision, MarkerKind, RUNS_EVERYTHING, type MarkerKindValue, type ServerReading } from './executable-comments.js';
import { isKeywordByte, isLetter, keywordOf, letterCode, MAX_KEYWORD_LENGTH, type Keyword } from './keywords.js';

/**
 * How one sql_mode lexes quoted text. NO_BACKSLASH_ESCAPES turns escapes
 * off for both quotes; ANSI_QUOTES makes `"..."` an identifier, in which a
 * backslash is a plain character; MariaDB's MSSQL mode (which implies
 * ANSI_QUOTES) also makes `[...]` an identifier (`]]` stands for `]`).
 * The gateway sees only NO_BACKSLASH_ESCAPES (in the server's status flags).
 */
export interface LexMode {
  readonly singleQuoteEscapes: boolean;
  readonly doubleQuoteEscapes: boolean;
  readonly brackets: boolean;
}

/**
 * One reading of a text: the mode of its first statement, and the mode of
 * everything after the first ';' (an earlier statement of the same text may
 * have changed the sql_mode the server parses the later ones in).
 */
export interface Reading {
  readonly first: LexMode;
  readonly rest: LexMode;
}

/** What a pass saw that other modes may read differently, in one phase (first statement, or the rest). */
export interface PhaseSeen {
  /** A backslash inside '...' text. */
  backslashInSingleQuotes: boolean;
  /** A backslash inside "..." text. */
  backslashInDoubleQuotes: boolean;
  /** A '[' outside quoted text and comments. */
  openBracket: boolean;
}

/** Receives the tokens; positions are byte offsets from the start of the whole text. */
export interface LexSink {
  word(start: number, end: number, keyword: Keyword): void;
  /**
   * Quoted text, quotes included; `quote` is the opening byte 0x27, 0x22,
   * 0x60 or 0x5b ('['); `escapes` says whether backslashes escaped in it.
   */
  quoted(start: number, end: number, quote: number, escapes: boolean): void;
  punct(at: number, byte: number): void;
  /**
   * A comment whose reading differs between servers or versions: a comment
   * opener inside a comment, or inside a run executable comment. The lexer
   * stops.
   */
  ambiguous(at: number, what: AmbiguousForm): void;
}

/** Comment forms whose meaning the lexer does not decide. */
export type AmbiguousForm = 'nested comment';

/** How the text ended. */
export type LexEnd = 'complete' | 'unterminated quoted text' | 'unterminated comment' | 'stopped';

const SQ = 0x27;
const DQ = 0x22;
const BT = 0x60;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const BACKSLASH = 0x5c;
const SEMICOLON = 0x3b;
const NEWLINE = 0x0a;
const STAR = 0x2a;
const SLASH = 0x2f;
const BANG = 0x21;
const CAPITAL_M = 0x4d;

/** Byte classes. */
const PUNCT = 0;
const WORDC = 1;
const SPACE = 2;
const QUOTE = 3;

const CLASS = new Uint8Array(256);
/** Bytes that matter while skimming (see Lexer.skim): quotes (with '['), comment starters, '*' (which may end a run executable comment) and ';'. */
const SKIM_STOP = new Uint8Array(256);
for (const b of [0x27, 0x22, 0x60, 0x5b, 0x23, 0x2d, 0x2f, 0x2a, 0x3b]) SKIM_STOP[b] = 1;
for (let b = 0; b < 256; b++) {
  const wordByte = b >= 0x80 || b === 0x24 || b === 0x5f || (b >= 0x30 && b <= 0x39) || isLetter(b);
  // The servers' whitespace: space, \t, \n, \v, \f, \r (checked against MariaDB 10.11: NUL, 0x1a, 0x7f are not).
  const space = b === 0x20 || (b >= 0x09 && b <= 0x0d);
  CLASS[b] = wordByte ? WORDC : space ? SPACE : b === SQ || b === DQ || b === BT ? QUOTE : PUNCT;
}

// Lexer states.
const S_CODE = 0;
const S_WORD = 1;
const S_QUOTE = 2;
const S_QUOTE_ESCAPE = 3;
const S_QUOTE_END = 4;
const S_SLASH = 5;
const S_DASH = 6;
const S_DASH_DASH = 7;
const S_LINE_COMMENT = 8;
const S_BLOCK = 9;
const S_BLOCK_STAR = 10;
const S_BLOCK_OPEN = 11;
const S_BLOCK_M = 12;
const S_BLOCK_SLASH = 13;
/** After `/*!` or `/*M!`: reading the version's digits. */
const S_VERSION = 14;
/** A '*' in the content of a run executable comment: `*\/` ends it. */
const S_CODE_STAR = 15;

/**
 * An incremental lexer for one reading (sql_modes, and the server that
 * decides on executable comments). Feed chunks with {@link push}, then call
 * {@link end}. The sink may call {@link stop} to end early.
 *
 * @example
 *   const mode = { singleQuoteEscapes: true, doubleQuoteEscapes: true, brackets: false };
 *   const lexer = new Lexer({ first: mode, rest: mode }, sink, RUNS_EVERYTHING, new CommentsMet());
 *   for (const chunk of chunks) lexer.push(chunk);
 *   const how = lexer.end();
 */
export class Lexer {
  #state = S_CODE;
  #offset = 0;
  #stopped = false;
  #tokenStart = 0;
  #quote = 0;
  #close = 0;
  #escapes = false;
  #mode: LexMode;
  #g0 = 0;
  #g1 = 0;
  #g2 = 0;
  #g3 = 0;
  #wordLength = 0;
  #wordPackable = true;
  #markerKind: MarkerKindValue = MarkerKind.MYSQL;
  #versionDigits = 0;
  #versionValue = 0;
  /** Where the digits after the marker start. */
  #versionStart = 0;
  /**
   * Set by the sink while nothing before the next ';' matters to it: the
   * lexer then reports only ';' (and still follows quotes and comments to
   * find it), skipping other bytes in a tight loop.
   */
  skim = false;
  /** False until the first ';' outside quotes and comments: then the reading's `rest` mode applies. */
  inRest = false;
  /** What this pass saw, in the first statement and in the rest, that other modes may read differently. */
  readonly seen: { readonly first: PhaseSeen; readonly rest: PhaseSeen } = {
    first: { backslashInSingleQuotes: false, backslashInDoubleQuotes: false, openBracket: false },
    rest: { backslashInSingleQuotes: false, backslashInDoubleQuotes: false, openBracket: false },
  };
  /** How many such things it saw so far (backslashes in '...' or "...", and '[' outside quoted text). */
  modeSensitive = 0;
  /**
   * Inside the content of an executable comment the server runs: the next
   * `*\/` in code ends it. Set before the first push to resume a text there.
   */
  inExecutable = false;

  /**
   * @param server which executable comments run (default: all of them)
   * @param met where the executable comments met are noted
   */
  constructor(
    private readonly reading: Reading,
    private readonly sink: LexSink,
    private readonly server: ServerReading = RUNS_EVERYTHING,
    readonly met: CommentsMet = new CommentsMet(),
  ) {
    this.#mode = reading.first;
  }

  /** Ends the pass: nothing more is reported. */
  stop(): void {
    this.#stopped = true;
  }

  /** Bytes read so far (up to where the pass stopped). */
  get offset(): number {
    return this.#offset;
  }

  /** Where the quoted text that is still open started (meaningful after end() says so). */
  get openQuoteStart(): number {
    return this.#tokenStart;
  }

  push(chunk: Uint8Array): void {
    const n = chunk.length;
    let i = 0;
    while (i < n && !this.#stopped) {
      i = this.#step(chunk, i);
    }
    // Where a stop left off, so that `offset` counts the bytes really read.
    this.#offset += this.#stopped ? Math.min(i, n) : n;
  }

  /** Flushes the last token and says how the text ended. */
  end(): LexEnd {
    if (this.#stopped) return 'stopped';
    const ended = this.#flush();
    // A run executable comment that never ends: the server refuses the statement.
    return ended === 'complete' && this.inExecutable ? 'unterminated comment' : ended;
  }

  #flush(): LexEnd {
    const at = this.#offset;
    switch (this.#state) {
      case S_WORD:
        this.#emitWord(at);
        return 'complete';
      case S_QUOTE:
      case S_QUOTE_ESCAPE:
        return 'unterminated quoted text';
      case S_QUOTE_END:
        this.sink.quoted(this.#tokenStart, at, this.#quote, this.#escapes);
        return 'complete';
      case S_SLASH:
      case S_DASH:
      case S_CODE_STAR:
        this.sink.punct(this.#tokenStart, this.#state === S_SLASH ? SLASH : this.#state === S_DASH ? 0x2d : STAR);
        return 'complete';
      case S_BLOCK:
      case S_BLOCK_STAR:
      case S_BLOCK_OPEN:
      case S_BLOCK_M:
      case S_BLOCK_SLASH:
      case S_VERSION:
        return 'unterminated comment';
      default:
        // S_CODE, S_LINE_COMMENT, and S_DASH_DASH: '--' at the very end is a comment.
        return 'complete';
    }
  }

  /** Handles the byte at i (and possibly more); returns where to continue. */
  #step(chunk: Uint8Array, i: number): number {
    const base = this.#offset;
    const b = chunk[i] as number;
    switch (this.#state) {
      case S_CODE:
        return this.#code(chunk, i, b);
      case S_WORD:
        return this.#word(chunk, i);
      case S_QUOTE:
        return this.#quoted(chunk, i);
      case S_QUOTE_ESCAPE:
        this.#state = S_QUOTE;
        return i + 1;
      case S_QUOTE_END:
        if (b === this.#close) {
          this.#state = S_QUOTE;
          return i + 1;
        }
        if (!this.skim) this.sink.quoted(this.#tokenStart, base + i, this.#quote, this.#escapes);
        this.#state = S_CODE;
        return i;
      case S_SLASH:
      case S_DASH:
      case S_DASH_DASH:
        return this.#afterOperator(b, i);
      case S_LINE_COMMENT: {
        const nl = chunk.indexOf(NEWLINE, i);
        if (nl === -1) return chunk.length;
        this.#state = S_CODE;
        return nl + 1;
      }
      case S_CODE_STAR:
        this.#state = S_CODE;
        if (b === SLASH) {
          this.inExecutable = false;
          return i + 1;
        }
        if (!this.skim) this.sink.punct(this.#tokenStart, STAR);
        return i;
      case S_VERSION:
        return this.#version(b, i);
      default:
        return this.#block(b, i, base);
    }
  }

  /** After '/', '-' or '--': a comment starts, or the operator characters were punctuation. */
  #afterOperator(b: number, i: number): number {
    switch (this.#state) {
      case S_SLASH:
        if (b === STAR) {
          // A comment inside a run executable comment: servers differ on where each ends.
          if (this.inExecutable) return this.#ambiguous(this.#tokenStart, 'nested comment', i);
          this.#state = S_BLOCK_OPEN;
          return i + 1;
        }
        if (!this.skim) this.sink.punct(this.#tokenStart, SLASH);
        break;
      case S_DASH:
        if (b === 0x2d) {
          this.#state = S_DASH_DASH;
          return i + 1;
        }
        if (!this.skim) this.sink.punct(this.#tokenStart, 0x2d);
        break;
      default:
        // '--' starts a comment only before whitespace or a control character.
        if (b <= 0x20 || b === 0x7f) {
          this.#state = S_LINE_COMMENT;
          return i;
        }
        if (!this.skim) {
          this.sink.punct(this.#tokenStart, 0x2d);
          this.sink.punct(this.#tokenStart + 1, 0x2d);
        }
    }
    this.#state = S_CODE;
    return i;
  }

  #code(chunk: Uint8Array, from: number, first: number): number {
    let i = from;
    let b = first;
    if (this.skim) {
      const n = chunk.length;
      while (SKIM_STOP[b] === 0) {
        if (++i >= n) return i;
        b = chunk[i] as number;
      }
    }
    const cls = CLASS[b] as number;
    if (cls === SPACE) return i + 1;
    const at = this.#offset + i;
    if (b === STAR && this.inExecutable) {
      this.#tokenStart = at;
      this.#state = S_CODE_STAR;
      return i + 1;
    }
    if (cls === WORDC) {
      this.#tokenStart = at;
      this.#g0 = 0;
      this.#g1 = 0;
      this.#g2 = 0;
      this.#g3 = 0;
      this.#wordLength = 0;
      this.#wordPackable = true;
      this.#state = S_WORD;
      return this.#word(chunk, i);
    }
    if (b === OPEN_BRACKET) {
      this.#modeSensitiveSeen('openBracket');
      if (this.#mode.brackets) return this.#openQuote(at, b, CLOSE_BRACKET, false, i);
    }
    if (cls === QUOTE) {
      const escapes = b === SQ ? this.#mode.singleQuoteEscapes : b === DQ ? this.#mode.doubleQuoteEscapes : false;
      return this.#openQuote(at, b, b, escapes, i);
    }
    if (b === 0x23) {
      this.#state = S_LINE_COMMENT;
      return i + 1;
    }
    if (b === 0x2d || b === 0x2f) {
      this.#tokenStart = at;
      this.#state = b === 0x2d ? S_DASH : S_SLASH;
      return i + 1;
    }
    if (!this.skim || b === SEMICOLON) this.sink.punct(at, b);
    if (b === SEMICOLON && !this.inRest) {
      this.inRest = true;
      this.#mode = this.reading.rest;
    }
    return i + 1;
  }

  #openQuote(at: number, quote: number, close: number, escapes: boolean, i: number): number {
    this.#tokenStart = at;
    this.#quote = quote;
    this.#close = close;
    this.#escapes = escapes;
    this.#state = S_QUOTE;
    return i + 1;
  }

  #modeSensitiveSeen(what: keyof PhaseSeen): void {
    this.modeSensitive++;
    (this.inRest ? this.seen.rest : this.seen.first)[what] = true;
  }

  #word(chunk: Uint8Array, from: number): number {
    let i = from;
    const n = chunk.length;
    let length = this.#wordLength;
    let packable = this.#wordPackable;
    while (i < n) {
      const b = chunk[i] as number;
      if (CLASS[b] !== WORDC) break;
      if (packable && isKeywordByte(b) && length < MAX_KEYWORD_LENGTH) {
        const code = letterCode(b);
        if (length < 6) this.#g0 = this.#g0 * 32 + code;
        else if (length < 12) this.#g1 = this.#g1 * 32 + code;
        else if (length < 18) this.#g2 = this.#g2 * 32 + code;
        else this.#g3 = this.#g3 * 32 + code;
      } else packable = false;
      length++;
      i++;
    }
    this.#wordLength = length;
    this.#wordPackable = packable;
    if (i < n) {
      this.#emitWord(this.#offset + i);
      this.#state = S_CODE;
    }
    return i;
  }

  #emitWord(end: number): void {
    const keyword = this.#wordPackable ? keywordOf(this.#wordLength, this.#g0, this.#g1, this.#g2, this.#g3) : 0;
    this.sink.word(this.#tokenStart, end, keyword as Keyword);
  }

  #quoted(chunk: Uint8Array, from: number): number {
    const quote = this.#quote;
    const close = this.#close;
    const n = chunk.length;
    let i = from;
    // A plain loop: cheaper than indexOf for the short strings of a long INSERT, and linear.
    if (quote === BT || quote === OPEN_BRACKET) {
      while (i < n && chunk[i] !== close) i++;
    } else {
      while (i < n) {
        const b = chunk[i] as number;
        if (b === quote || b === BACKSLASH) break;
        i++;
      }
    }
    if (i >= n) return n;
    if (chunk[i] === BACKSLASH) {
      this.#modeSensitiveSeen(quote === SQ ? 'backslashInSingleQuotes' : 'backslashInDoubleQuotes');
      if (this.#escapes) this.#state = S_QUOTE_ESCAPE;
      return i + 1;
    }
    this.#state = S_QUOTE_END;
    return i + 1;
  }

  #block(b: number, i: number, base: number): number {
    switch (this.#state) {
      case S_BLOCK_OPEN:
        if (b === BANG) return this.#marker(MarkerKind.MYSQL, i, base);
        this.#state = b === CAPITAL_M ? S_BLOCK_M : S_BLOCK;
        return b === CAPITAL_M ? i + 1 : i;
      case S_BLOCK_M:
        if (b === BANG) return this.#marker(MarkerKind.MARIADB, i, base);
        this.#state = S_BLOCK;
        return i;
      case S_BLOCK_SLASH:
        if (b === 0x2a) return this.#ambiguous(base + i - 1, 'nested comment', i);
        this.#state = S_BLOCK;
        return i;
      case S_BLOCK_STAR:
        if (b === 0x2f) {
          this.#state = S_CODE;
          return i + 1;
        }
        this.#state = S_BLOCK;
        return i;
      default:
        if (b === 0x2a) this.#state = S_BLOCK_STAR;
        else if (b === 0x2f) this.#state = S_BLOCK_SLASH;
        return i + 1;
    }
  }

  /** `/*!` or `/*M!` read (the '!' at i): its version's digits come next. */
  #marker(kind: MarkerKindValue, i: number, base: number): number {
    this.#markerKind = kind;
    this.#versionDigits = 0;
    this.#versionValue = 0;
    this.#versionStart = base + i + 1;
    this.#state = S_VERSION;
    return i + 1;
  }

  /** A digit of the version (at most six), or the byte after it: the server decides. */
  #version(b: number, i: number): number {
    if (b >= 0x30 && b <= 0x39 && this.#versionDigits < 6) {
      this.#versionDigits++;
      this.#versionValue = this.#versionValue * 10 + (b - 0x30);
      return i + 1;
    }
    const count = this.#versionDigits;
    // Fewer than five digits are no version: they are code.
    const digits = count >= 5 ? count : 0;
    const version = digits === 0 ? 0 : this.#versionValue;
    const kind = this.#markerKind;
    this.met.add(kind, digits, version);
    const decision = decide(this.server, kind, digits, version);
    if (decision === Decision.COMMENT) {
      this.#state = S_BLOCK;
      return i;
    }
    this.inExecutable = true;
    const codeDigits = digits === 0 ? count : decision === Decision.CODE_FROM_SIXTH_DIGIT ? 1 : 0;
    if (codeDigits === 0) {
      this.#state = S_CODE;
      return i;
    }
    // Digits that are code start a word (never a keyword), which may go on past them.
    this.#tokenStart = this.#versionStart + count - codeDigits;
    this.#g0 = this.#g1 = this.#g2 = this.#g3 = 0;
    this.#wordLength = codeDigits;
    this.#wordPackable = false;
    this.#state = S_WORD;
    return i;
  }

  #ambiguous(at: number, what: AmbiguousForm, i: number): number {
    this.sink.ambiguous(at, what);
    this.#stopped = true;
    return i + 1;
  }
}
