/**
 * The few SQL keywords the statement scanner reacts to, recognised without
 * allocating: a word of up to 24 ASCII letters and underscores is packed, as
 * the lexer reads it, into four small integers (5 bits a character, 6
 * characters each) and looked up in integer-keyed maps. Words with digits,
 * '$' or non-ASCII bytes are never keywords here. Underscores count so that
 * system variable and routine names (character_set_client, sql_mode,
 * execute_prepared_stmt) can be keywords too.
 */

/** Keyword ids (0 means "not one of ours"). */
export const KW = {
  NONE: 0,
  // statements and their second words
  CREATE: 1, ALTER: 2, DROP: 3, RENAME: 4, REPLACE: 5, USER: 6, SET: 7, PASSWORD: 8, GRANT: 9,
  IDENTIFIED: 10, KILL: 11, PREPARE: 12, EXECUTE: 13, IMMEDIATE: 14, BINLOG: 15, DEALLOCATE: 16,
  // statements whose text is data manipulation (or privileges only) up to the next ';'
  SELECT: 20, INSERT: 21, UPDATE: 22, DELETE: 23, LOAD: 24, WITH: 25, VALUES: 26, TABLE: 27, CALL: 28,
  DESCRIBE: 29, DESC: 30, EXPLAIN: 31, SHOW: 32, USE: 33, REVOKE: 34,
  // objects of CREATE/ALTER that hold no statements
  INDEX: 40, DATABASE: 41, SCHEMA: 42,
  // words after which a statement of a compound body or stored program starts
  BEGIN: 50, THEN: 51, ELSE: 52, DO: 53, LOOP: 54, REPEAT: 55, ROW: 56, FOR: 57, AS: 58, NOT: 59, ATOMIC: 60,
  // the client character set and the SQL mode
  NAMES: 70, CHARACTER: 71, CHARSET: 72, CHAR: 73, CHARACTER_SET_CLIENT: 74, SQL_MODE: 75,
  // MySQL's and MariaDB's sys schema procedure that runs its argument as a prepared statement
  EXECUTE_PREPARED_STMT: 80,
} as const;

/** A keyword id. */
export type Keyword = (typeof KW)[keyof typeof KW];

/** Longest keyword, in characters. */
export const MAX_KEYWORD_LENGTH = 24;

/** Packs one letter (either case) into 1..26, and '_' into 31. */
export function letterCode(byte: number): number {
  return (byte | 0x20) - 0x60;
}

/** True for A-Z and a-z. */
export function isLetter(byte: number): boolean {
  const b = byte | 0x20;
  return b >= 0x61 && b <= 0x7a;
}

/** True for the bytes a keyword may hold: A-Z, a-z and '_'. */
export function isKeywordByte(byte: number): boolean {
  return byte === 0x5f || isLetter(byte);
}

function pack(name: string): [number, number, number, number] {
  const groups: [number, number, number, number] = [0, 0, 0, 0];
  for (let i = 0; i < name.length; i++) {
    const g = (i / 6) | 0;
    groups[g] = (groups[g] as number) * 32 + letterCode(name.charCodeAt(i));
  }
  return groups;
}

// Codes are never 0, so packings of different lengths never collide within a group.
type Groups = Map<number, Keyword | Groups>;
const BY_GROUPS: Groups = new Map();
for (const [name, id] of Object.entries(KW)) {
  if (id === 0) continue;
  const groups = pack(name);
  const used = Math.ceil(name.length / 6);
  let level = BY_GROUPS;
  for (let g = 0; g < used - 1; g++) {
    let next = level.get(groups[g] as number);
    if (next === undefined) level.set(groups[g] as number, (next = new Map()));
    if (typeof next === 'number') throw new Error(`keyword ${name} shares its first characters with a shorter one`);
    level = next;
  }
  if (level.has(groups[used - 1] as number)) throw new Error(`keyword ${name} collides`);
  level.set(groups[used - 1] as number, id);
}

/**
 * The keyword of a packed word of `length` letters and underscores (0 when
 * none). Allocates nothing: nested maps, one level per group of 6.
 */
export function keywordOf(length: number, g0: number, g1: number, g2: number, g3: number): Keyword {
  if (length === 0 || length > MAX_KEYWORD_LENGTH) return KW.NONE;
  const used = Math.ceil(length / 6);
  let found = BY_GROUPS.get(g0);
  if (used > 1) found = found instanceof Map ? found.get(g1) : undefined;
  if (used > 2) found = found instanceof Map ? found.get(g2) : undefined;
  if (used > 3) found = found instanceof Map ? found.get(g3) : undefined;
  return typeof found === 'number' ? found : KW.NONE;
}
