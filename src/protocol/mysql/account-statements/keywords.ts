/**
 * The few SQL keywords the statement scanner reacts to, recognised without
 * allocating: a word of up to 12 ASCII letters is packed, as the lexer reads
 * it, into two small integers (5 bits a letter, 6 letters each) and looked up
 * in integer-keyed maps. Words with digits, '_', '$' or non-ASCII bytes are
 * never keywords here.
 */

/** Keyword ids (0 means "not one of ours"). */
export const KW = {
  NONE: 0,
  // statements and their second words
  CREATE: 1, ALTER: 2, DROP: 3, RENAME: 4, REPLACE: 5, USER: 6, SET: 7, PASSWORD: 8, GRANT: 9,
  IDENTIFIED: 10, KILL: 11, PREPARE: 12, EXECUTE: 13, IMMEDIATE: 14, BINLOG: 15, DEALLOCATE: 16,
  // statements whose text is data manipulation up to the next ';'
  SELECT: 20, INSERT: 21, UPDATE: 22, DELETE: 23, LOAD: 24, WITH: 25, VALUES: 26, TABLE: 27, CALL: 28,
  DESCRIBE: 29, DESC: 30, EXPLAIN: 31, SHOW: 32, USE: 33,
  // objects of CREATE/ALTER that hold no statements
  INDEX: 40, DATABASE: 41, SCHEMA: 42,
  // words after which a statement of a compound body or stored program starts
  BEGIN: 50, THEN: 51, ELSE: 52, DO: 53, LOOP: 54, REPEAT: 55, ROW: 56, FOR: 57, AS: 58, NOT: 59, ATOMIC: 60,
} as const;

/** A keyword id. */
export type Keyword = (typeof KW)[keyof typeof KW];

/** Packs one letter (either case) into 1..26. */
export function letterCode(byte: number): number {
  return (byte | 0x20) - 0x60;
}

/** True for A-Z and a-z. */
export function isLetter(byte: number): boolean {
  const b = byte | 0x20;
  return b >= 0x61 && b <= 0x7a;
}

function pack(letters: string): { lo: number; hi: number } {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < letters.length; i++) {
    const c = letterCode(letters.charCodeAt(i));
    if (i < 6) lo = lo * 32 + c;
    else hi = hi * 32 + c;
  }
  return { lo, hi };
}

// Letters are never 0, so packings of different lengths never collide.
const SHORT = new Map<number, Keyword>();
const LONG = new Map<number, Map<number, Keyword>>();
for (const [name, id] of Object.entries(KW)) {
  if (id === 0) continue;
  const { lo, hi } = pack(name);
  if (name.length <= 6) SHORT.set(lo, id);
  else {
    let inner = LONG.get(lo);
    if (inner === undefined) LONG.set(lo, (inner = new Map()));
    inner.set(hi, id);
  }
}

/** The keyword of a packed all-letter word of `length` letters (0 when none). */
export function keywordOf(length: number, lo: number, hi: number): Keyword {
  if (length <= 6) return SHORT.get(lo) ?? KW.NONE;
  if (length > 12) return KW.NONE;
  return LONG.get(lo)?.get(hi) ?? KW.NONE;
}
