/**
 * Token objects for the full reading of a short text (at most
 * MAX_VERIFIED_BYTES), made by the same lexer as the pre-check, plus the
 * values of words and quoted text.
 */
import type { CommentsMet, ServerReading } from './executable-comments.js';
import type { Keyword } from './keywords.js';
import { Lexer, type AmbiguousForm, type LexEnd, type LexSink, type PhaseSeen, type Reading } from './lexer.js';

/** One token of the full reading. */
export interface Token {
  readonly type: 'word' | 'quoted' | 'punct';
  readonly start: number;
  readonly end: number;
  /** Keyword id for words (0 when none). */
  readonly keyword: Keyword;
  /** The punctuation byte, or the opening quote byte of quoted text (0x27, 0x22, 0x60 or 0x5b). */
  readonly byte: number;
  /** Quoted text: backslashes escaped in it (its quote and the reading's mode say so). */
  readonly escapes: boolean;
}

/** The tokens of one reading and how the text ended. */
export interface Tokenized {
  readonly tokens: readonly Token[];
  readonly end: LexEnd;
  readonly ambiguous?: AmbiguousForm;
  /** For 'unterminated quoted text': no ';' came before the open quote, so the server runs nothing. */
  readonly rejectedWhole: boolean;
  /** What the reading saw that other modes may read differently. */
  readonly seen: { readonly first: PhaseSeen; readonly rest: PhaseSeen };
}

class CollectingSink implements LexSink {
  readonly tokens: Token[] = [];
  ambiguousForm: AmbiguousForm | undefined;
  word(start: number, end: number, keyword: Keyword): void {
    this.tokens.push({ type: 'word', start, end, keyword, byte: 0, escapes: false });
  }
  quoted(start: number, end: number, quote: number, escapes: boolean): void {
    this.tokens.push({ type: 'quoted', start, end, keyword: 0, byte: quote, escapes });
  }
  punct(at: number, byte: number): void {
    this.tokens.push({ type: 'punct', start: at, end: at + 1, keyword: 0, byte, escapes: false });
  }
  ambiguous(_at: number, what: AmbiguousForm): void {
    this.ambiguousForm = what;
  }
}

/** Reads `bytes` as tokens under one reading, as `server` decides on executable comments (noted in `met`). */
export function tokenize(bytes: Uint8Array, reading: Reading, server: ServerReading, met: CommentsMet): Tokenized {
  const sink = new CollectingSink();
  const lexer = new Lexer(reading, sink, server, met);
  lexer.push(bytes);
  const end = lexer.end();
  const tokens = sink.tokens;
  let rejectedWhole = false;
  if (end === 'unterminated quoted text') {
    const open = lexer.openQuoteStart;
    rejectedWhole = !tokens.some((t) => t.type === 'punct' && t.byte === 0x3b && t.start < open);
  }
  return {
    tokens,
    end,
    rejectedWhole,
    seen: lexer.seen,
    ...(sink.ambiguousForm !== undefined ? { ambiguous: sink.ambiguousForm } : {}),
  };
}

// MySQL string escapes; any other escaped byte stands for itself (\% and \_ keep their backslash).
const ESCAPES = new Map<number, number>([
  [0x30, 0x00], // \0
  [0x62, 0x08], // \b
  [0x6e, 0x0a], // \n
  [0x72, 0x0d], // \r
  [0x74, 0x09], // \t
  [0x5a, 0x1a], // \Z
]);

const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Values of tokens over the text's bytes.
 *
 * @example new TokenText(bytes).upper(token) === 'CREATE'
 */
export class TokenText {
  constructor(readonly bytes: Uint8Array) {}

  /** A word in ASCII upper case (other bytes stay as they are, for comparisons only). */
  upper(token: Token): string {
    return latin1.decode(this.bytes.subarray(token.start, token.end)).toUpperCase();
  }

  /** The bytes a quoted token stands for, quotes and escapes resolved; a word's own bytes. */
  value(token: Token): Uint8Array {
    if (token.type !== 'quoted') return this.bytes.subarray(token.start, token.end);
    const close = token.byte === OPEN_BRACKET ? CLOSE_BRACKET : token.byte;
    const out: number[] = [];
    const end = token.end - 1;
    for (let i = token.start + 1; i < end; i++) {
      const b = this.bytes[i] as number;
      if (b === BACKSLASH && token.escapes) {
        const e = this.bytes[++i] as number;
        if (e === 0x25 || e === 0x5f) out.push(BACKSLASH);
        out.push(ESCAPES.get(e) ?? e);
      } else {
        out.push(b);
        if (b === close) i++; // a doubled quote
      }
    }
    return Uint8Array.from(out);
  }

  /** A word's or quoted token's value as UTF-8 text; undefined when it is not valid UTF-8. */
  text(token: Token): string | undefined {
    try {
      return utf8.decode(this.value(token));
    } catch {
      return undefined;
    }
  }

  /** The name a quoted token stands for, in lower case ('' when it is not UTF-8). */
  name(token: Token): string {
    return this.text(token)?.toLowerCase() ?? '';
  }

  /** Quoted text that other modes may read differently: '...' or "..." with a backslash, or [...]. */
  modeSensitive(token: Token): boolean {
    if (token.type === 'punct') return token.byte === OPEN_BRACKET;
    if (token.type !== 'quoted') return false;
    if (token.byte === OPEN_BRACKET) return true;
    if (token.byte !== 0x27 && token.byte !== 0x22) return false;
    for (let i = token.start + 1; i < token.end - 1; i++) if (this.bytes[i] === BACKSLASH) return true;
    return false;
  }
}
