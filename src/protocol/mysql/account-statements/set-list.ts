/**
 * SET lists that do not start with PASSWORD or STATEMENT: `SET @a = 1,
 * SESSION sql_mode = '', NAMES utf8mb4`. Two things in them matter:
 * - a PASSWORD item (MariaDB runs `SET @a = 1, PASSWORD = PASSWORD('x')`),
 *   which is not understood;
 * - a change of the client character set: `NAMES x [COLLATE y]`, `NAMES
 *   DEFAULT`, `CHARACTER SET x`, `CHARSET x`, `CHAR SET x`, and assignments
 *   to character_set_client in any spelling and scope (`character_set_client`,
 *   `@@character_set_client`, `@@session.` / `@@local.` / `@@global.`, a
 *   GLOBAL/SESSION/LOCAL/PERSIST word before it, quoted as an identifier).
 *
 * Checked against MariaDB 10.11: NAMES and CHARACTER SET may be any item of
 * a list; a scope word holds for the items after it (`SET GLOBAL a = 1,
 * character_set_client = gbk` sets the global value); the value of
 * character_set_client may be a name, a string, a backquoted name, a
 * collation id (`= 28` is gbk), a user variable, DEFAULT or an expression
 * (`CONCAT('g', 'bk')`, `x'67626b'`), so only a lone name or quoted name is
 * reported by name.
 *
 * @see https://mariadb.com/kb/en/set/
 * @see https://mariadb.com/kb/en/set-names/
 * @see https://mariadb.com/kb/en/set-character-set/
 */
import { isAsciiTransparentCharset } from './charsets.js';
import { Cursor, NotUnderstood } from './cursor.js';
import { KW } from './keywords.js';
import type { Token } from './tokens.js';
import type { CharsetChange, OtherVerdict } from './types.js';

const COMMA = 0x2c;
const EQUALS = 0x3d;
const COLON = 0x3a;
const AT = 0x40;
const DOT = 0x2e;
const OPEN = 0x28;
const CLOSE = 0x29;
const CLIENT_VARIABLE = 'character_set_client';

type Scope = CharsetChange['scope'];

const SCOPE_WORDS: Readonly<Record<string, Scope>> = {
  GLOBAL: 'global',
  PERSIST: 'global',
  PERSIST_ONLY: 'global',
  SESSION: 'session',
  LOCAL: 'session',
};

/** The items of a list from the cursor on, split at ',' outside parentheses: [from, to) token indexes. */
function items(c: Cursor): [number, number][] {
  const out: [number, number][] = [];
  let depth = 0;
  let from = c.index;
  for (let j = c.index; j < c.tokens.length; j++) {
    const tok = c.tokens[j] as Token;
    if (tok.type !== 'punct') continue;
    if (tok.byte === OPEN) depth++;
    else if (tok.byte === CLOSE && depth > 0) depth--;
    else if (tok.byte === COMMA && depth === 0) {
      out.push([from, j]);
      from = j + 1;
    }
  }
  out.push([from, c.tokens.length]);
  return out;
}

/** True when the token names character_set_client (a word, or any quoted form of it). */
function namesClientVariable(c: Cursor, tok: Token): boolean {
  if (tok.type === 'word') return tok.keyword === KW.CHARACTER_SET_CLIENT;
  return tok.type === 'quoted' && c.text.text(tok)?.toLowerCase() === CLIENT_VARIABLE;
}

/** A lone name or quoted name, in lower case; undefined for anything else (DEFAULT, numbers, variables, expressions). */
function charsetName(c: Cursor, tokens: readonly Token[]): string | undefined {
  const only = tokens[0];
  if (only === undefined || tokens.length !== 1 || only.type === 'punct') return undefined;
  const text = c.text.text(only);
  if (text === undefined) return undefined;
  if (only.type === 'word' && (/^[0-9]/.test(text) || text.toUpperCase() === 'DEFAULT')) return undefined;
  return text.toLowerCase();
}

/** `x [COLLATE y]` after NAMES: the character set, or undefined for any other shape. */
function namesValue(c: Cursor, tokens: readonly Token[]): string | undefined {
  const collate = tokens[1];
  if (tokens.length === 3 && collate?.type === 'word' && c.text.upper(collate) === 'COLLATE') return charsetName(c, tokens.slice(0, 1));
  return charsetName(c, tokens);
}

/** Index of the '=' (or the ':' of ':=') that ends an item's target, or -1. */
function assignmentAt(tokens: readonly Token[]): number {
  for (let j = 0; j < tokens.length; j++) {
    const tok = tokens[j] as Token;
    if (tok.type !== 'punct') continue;
    if (tok.byte === EQUALS) return j;
    if (tok.byte === COLON && tokens[j + 1]?.type === 'punct' && tokens[j + 1]?.byte === EQUALS) return j;
  }
  return -1;
}

/**
 * The scope of an assignment whose target names character_set_client, or
 * throws when the target has another shape: `name`, `@@name`, `@@scope.name`.
 */
function clientTargetScope(c: Cursor, target: readonly Token[], sticky: Scope): Scope {
  const punct = (tok: Token | undefined, byte: number) => tok?.type === 'punct' && tok.byte === byte;
  const last = target[target.length - 1];
  if (target.length === 1 && last !== undefined && namesClientVariable(c, last)) return sticky;
  if (punct(target[0], AT) && punct(target[1], AT) && last !== undefined && namesClientVariable(c, last)) {
    if (target.length === 3) return 'session';
    const scope = target[2];
    if (target.length === 5 && scope?.type === 'word' && punct(target[3], DOT)) {
      const word = c.text.upper(scope);
      if (word === 'GLOBAL') return 'global';
      if (word === 'SESSION' || word === 'LOCAL') return 'session';
    }
  }
  throw new NotUnderstood('character_set_client assignment form');
}

/** One item's change of the client character set, if any. `scope` is the list's sticky scope so far. */
function itemChange(c: Cursor, tokens: readonly Token[], scope: Scope): CharsetChange | undefined {
  const word = (k: number) => (tokens[k]?.type === 'word' ? c.text.upper(tokens[k] as Token) : undefined);
  const w0 = word(0);
  if (w0 === 'NAMES') return { form: 'SET NAMES', charset: namesValue(c, tokens.slice(1)), scope };
  if (w0 === 'CHARSET') return { form: 'SET CHARACTER SET', charset: charsetName(c, tokens.slice(1)), scope };
  if ((w0 === 'CHARACTER' || w0 === 'CHAR') && word(1) === 'SET') {
    return { form: 'SET CHARACTER SET', charset: charsetName(c, tokens.slice(2)), scope };
  }
  const eq = assignmentAt(tokens);
  const target = eq === -1 ? tokens : tokens.slice(0, eq);
  // A user variable (@name, not @@name) may be called anything.
  const at = (k: number) => target[k]?.type === 'punct' && target[k]?.byte === AT;
  if (at(0) && !at(1)) return undefined;
  if (!target.some((t) => namesClientVariable(c, t))) return undefined;
  if (eq === -1) throw new NotUnderstood('character_set_client assignment form');
  const valueFrom = tokens[eq]?.byte === COLON ? eq + 2 : eq + 1;
  return { form: 'character_set_client', charset: charsetName(c, tokens.slice(valueFrom)), scope: clientTargetScope(c, target, scope) };
}

/**
 * A SET statement that does not start with PASSWORD or STATEMENT: 'other',
 * with the client character set changes it makes, unless one of its
 * assignments is a PASSWORD item. The cursor is after SET.
 *
 * @example setList(cursorAfterSet) // for "SET NAMES gbk": { kind: 'other', clientCharset: { changes: [...], asciiTransparent: false } }
 */
export function setList(c: Cursor): OtherVerdict {
  const changes: CharsetChange[] = [];
  let scope: Scope = 'session';
  for (const [from, to] of items(c)) {
    let at = from;
    for (let word = c.wordAt(at - c.index); word !== undefined && SCOPE_WORDS[word] !== undefined; word = c.wordAt(at - c.index)) {
      scope = SCOPE_WORDS[word] as Scope;
      at++;
    }
    if (c.wordAt(at - c.index) === 'PASSWORD') throw new NotUnderstood('SET PASSWORD combined with other assignments');
    const change = itemChange(c, c.tokens.slice(at, to), scope);
    if (change !== undefined) changes.push(change);
  }
  return changes.length === 0 ? { kind: 'other' } : { kind: 'other', clientCharset: charsetReport(changes) };
}

/** The report on a text's character set changes. */
export function charsetReport(changes: readonly CharsetChange[]): { changes: readonly CharsetChange[]; asciiTransparent: boolean } {
  return { changes, asciiTransparent: changes.every((ch) => isAsciiTransparentCharset(ch.charset)) };
}
