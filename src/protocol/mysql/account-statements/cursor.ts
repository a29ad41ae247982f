/**
 * A cursor over the tokens of one statement, for the hand-written parsers of
 * the account statements. Parsers throw {@link NotUnderstood} for anything
 * they do not fully read; the classifier turns it into an 'unknown' verdict.
 */
import type { Keyword } from './keywords.js';
import type { Token, TokenText } from './tokens.js';

/** A statement the parsers do not fully read; the message is the reason (never statement text). */
export class NotUnderstood extends Error {}

const PAREN_OPEN = 0x28;
const PAREN_CLOSE = 0x29;

/**
 * Token access with one-token look-ahead helpers.
 *
 * @example
 *   const c = new Cursor(tokens, text);
 *   if (c.acceptWord('IF')) c.expectWord('EXISTS');
 */
export class Cursor {
  #i = 0;
  readonly #upper: (string | undefined)[] = [];

  constructor(
    readonly tokens: readonly Token[],
    readonly text: TokenText,
  ) {}

  get index(): number {
    return this.#i;
  }

  seek(index: number): void {
    this.#i = index;
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.#i + offset];
  }

  /** The word at offset in upper case, or undefined when it is not a word. */
  wordAt(offset = 0): string | undefined {
    const index = this.#i + offset;
    const tok = this.tokens[index];
    if (tok === undefined || tok.type !== 'word') return undefined;
    let up = this.#upper[index];
    if (up === undefined) this.#upper[index] = up = this.text.upper(tok);
    return up;
  }

  isWord(word: string, offset = 0): boolean {
    return this.wordAt(offset) === word;
  }

  isKeyword(keyword: Keyword, offset = 0): boolean {
    const tok = this.peek(offset);
    return tok !== undefined && tok.type === 'word' && tok.keyword === keyword;
  }

  isPunct(byte: number, offset = 0): boolean {
    const tok = this.peek(offset);
    return tok !== undefined && tok.type === 'punct' && tok.byte === byte;
  }

  /** Quoted text in '...' or "..." (string literals; backticks and MSSQL's brackets quote identifiers). */
  isString(offset = 0): boolean {
    const tok = this.peek(offset);
    return tok !== undefined && tok.type === 'quoted' && (tok.byte === 0x27 || tok.byte === 0x22);
  }

  atEnd(): boolean {
    return this.#i >= this.tokens.length;
  }

  next(): Token {
    const tok = this.tokens[this.#i];
    if (tok === undefined) throw new NotUnderstood('statement ends early');
    this.#i++;
    return tok;
  }

  acceptWord(word: string): boolean {
    if (!this.isWord(word)) return false;
    this.#i++;
    return true;
  }

  expectWord(word: string): Token {
    if (!this.isWord(word)) throw new NotUnderstood(`expected ${word}`);
    return this.next();
  }

  acceptPunct(byte: number): boolean {
    if (!this.isPunct(byte)) return false;
    this.#i++;
    return true;
  }

  expectPunct(byte: number): Token {
    if (!this.isPunct(byte)) throw new NotUnderstood(`expected '${String.fromCharCode(byte)}'`);
    return this.next();
  }

  expectString(): Token {
    if (!this.isString()) throw new NotUnderstood('expected a quoted string');
    return this.next();
  }

  requireEnd(): void {
    if (!this.atEnd()) throw new NotUnderstood('unexpected text after the statement');
  }

  /** Index of the first word `word` at parenthesis depth 0 from the cursor on, or -1. */
  findWordAtDepthZero(word: string): number {
    let depth = 0;
    for (let j = this.#i; j < this.tokens.length; j++) {
      const tok = this.tokens[j] as Token;
      if (tok.type === 'punct') {
        if (tok.byte === PAREN_OPEN) depth++;
        else if (tok.byte === PAREN_CLOSE && depth > 0) depth--;
      } else if (depth === 0 && tok.type === 'word' && this.wordAt(j - this.#i) === word) return j;
    }
    return -1;
  }
}

/** True when b follows a with no space or comment between. */
export function adjacent(a: Token, b: Token): boolean {
  return a.end === b.start;
}
