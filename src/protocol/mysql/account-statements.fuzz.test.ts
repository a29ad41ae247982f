/**
 * Property tests of the account-statement recognizer against what the
 * server can do with a text: a small reference lexer, written for clarity
 * rather than speed, splits a text into statements in a given sql_mode per
 * statement, the way the server parses a multi-statement text (each
 * statement after the ones before it ran). The mode of the first statement
 * follows the session's backslash mode (with ANSI_QUOTES and MSSQL, which
 * the gateway cannot see); a statement that changes sql_mode may switch the
 * next ones to any mode. Whenever some such sequence of modes makes a
 * statement start with DROP USER, the recognizer must not say 'other'; and
 * the pre-check must hold every text the recognizer does not pass as plain
 * 'other'. Also: character set changes and unread dynamic SQL are never lost
 * by the pre-check.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyStatement, needsClassification, type BackslashMode } from './account-statements.js';

/** What the reference needs of a mode: escapes in '...' and "...", and [...] names. */
interface RefMode {
  readonly sq: boolean;
  readonly dq: boolean;
  readonly brackets: boolean;
}

const DEFAULT: RefMode = { sq: true, dq: true, brackets: false };
const ANSI: RefMode = { sq: true, dq: false, brackets: false };
const NO_ESCAPES: RefMode = { sq: false, dq: false, brackets: false };
const MSSQL: RefMode = { sq: true, dq: false, brackets: true };
const MSSQL_NO_ESCAPES: RefMode = { sq: false, dq: false, brackets: true };
const ALL: readonly RefMode[] = [DEFAULT, ANSI, NO_ESCAPES, MSSQL, MSSQL_NO_ESCAPES];
const FIRST: Record<Exclude<BackslashMode, 'unknown'>, readonly RefMode[]> = {
  escapes: [DEFAULT, ANSI, MSSQL],
  'no-escapes': [NO_ESCAPES, MSSQL_NO_ESCAPES],
};

/**
 * One statement as the reference sees it: its tokens outside comments
 * (words in upper case, quoted text as `'`, other characters as themselves),
 * and the names it quotes.
 */
interface RefStatement {
  readonly words: readonly string[];
  readonly names: readonly string[];
}

/**
 * Lexes the statement that starts at `from` in `mode`: the statement and
 * where the next one starts, or undefined when a quote or comment never
 * closes (the server refuses that statement and runs nothing after it).
 */
function refStatement(text: string, from: number, mode: RefMode): { statement: RefStatement; next: number } | undefined {
  const words: string[] = [];
  const names: string[] = [];
  let i = from;
  const quoted = (close: string, escapes: boolean): string | undefined => {
    let value = '';
    for (i++; i < text.length; i++) {
      const ch = text[i] as string;
      if (escapes && ch === '\\') {
        i++;
        if (i >= text.length) return undefined;
        value += text[i];
      } else if (ch === close) {
        if (text[i + 1] !== close) {
          i++;
          return value;
        }
        value += close;
        i++;
      } else value += ch;
    }
    return undefined;
  };
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === ';') return { statement: { words, names }, next: i + 1 };
    if (/\s/.test(ch)) i++;
    else if (ch === '#' || (ch === '-' && text[i + 1] === '-' && /[\s\x00-\x1f]/.test(text[i + 2] ?? '\n'))) {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl + 1;
    } else if (ch === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) return undefined;
      i = end + 2;
    } else if (ch === "'") {
      if (quoted("'", mode.sq) === undefined) return undefined;
      words.push("'");
    } else if (ch === '"' || ch === '`' || (ch === '[' && mode.brackets)) {
      const value = quoted(ch === '[' ? ']' : ch, ch === '"' && mode.dq);
      if (value === undefined) return undefined;
      names.push(value.toLowerCase());
      words.push("'");
    } else if (/[A-Za-z0-9_$]/.test(ch)) {
      let w = '';
      while (i < text.length && /[A-Za-z0-9_$]/.test(text[i] as string)) w += text[i++];
      words.push(w.toUpperCase());
    } else {
      words.push(ch);
      i++;
    }
  }
  return { statement: { words, names }, next: text.length + 1 };
}

/** A statement after which the server may parse the next ones in another sql_mode. */
function changesMode(s: RefStatement): boolean {
  return s.words.includes('SQL_MODE') || s.words.includes('EXECUTE') || s.names.includes('sql_mode');
}

/** True when some sequence of modes the server may go through makes a statement start with DROP USER. */
function someReadingDropsUser(text: string, first: readonly RefMode[]): boolean {
  const visit = (from: number, modes: readonly RefMode[], depth: number): boolean => {
    if (from > text.length || depth > 12) return false;
    for (const mode of modes) {
      const lexed = refStatement(text, from, mode);
      if (lexed === undefined) continue;
      const { statement, next } = lexed;
      if (statement.words[0] === 'DROP' && statement.words[1] === 'USER') return true;
      if (visit(next, changesMode(statement) ? ALL : [mode], depth + 1)) return true;
    }
    return false;
  };
  return visit(0, first, 0);
}

const FRAGMENTS = [
  "'", '"', '`', '\\', '[', ']', ';', ' ', '\n', 'x', '1', "'a\\'", '"b\\"', "''", '""', '[x]',
  'SELECT', 'SELECT 1', 'DROP USER v', 'DROP', 'USER', 'v',
  "SET sql_mode = 'NO_BACKSLASH_ESCAPES'", "SET SESSION sql_mode = 'ANSI_QUOTES'", "SET @@sql_mode = 'MSSQL'", "SET `sql_mode` = ''",
  'EXECUTE s', "SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0))",
  '-- c\n', '# c\n', '/* c */', '/*', '*/', '--',
];
const texts = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 14 }).map((parts) => parts.join(' '));
const joined = fc.array(fc.constantFrom(...FRAGMENTS), { minLength: 1, maxLength: 14 }).map((parts) => parts.join(''));
/** Whole statements: mode changers, quoted text that one mode closes and another does not, closers, DROP USER. */
const PIECES = [
  "SET sql_mode = 'NO_BACKSLASH_ESCAPES'", "SET sql_mode = 'MSSQL'", "SET sql_mode = 'ANSI_QUOTES'", "SET sql_mode = ''",
  "SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0))", 'EXECUTE s', 'SELECT 1',
  "SELECT 'a\\'", 'SELECT "a\\"', "SELECT 1 AS [x'", 'SELECT 1 AS [x"', "SELECT '\\'", "SELECT ']'", 'SELECT "]"',
  "-- '\n", '-- "\n', '-- ]\n', "'", '"', ']', 'DROP USER v',
];
const statements = fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('; '));
/** A later statement that changes sql_mode and whose own end depends on the mode, then a few statements. */
const changedLater = fc
  .array(fc.constantFrom("SELECT 'a\\'", 'DROP USER v', "'", "-- '\n", 'SELECT 1', "SET sql_mode = ''"), { maxLength: 5 })
  .map((parts) => ["SELECT 1", "SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0))", ...parts].join('; '));

describe('the recognizer against every sql_mode the server may parse each statement in', () => {
  it('is never other when some mode sequence makes a statement DROP USER, and the pre-check agrees', () => {
    fc.assert(
      fc.property(fc.oneof(statements, changedLater, texts, joined), fc.constantFrom('escapes', 'no-escapes') as fc.Arbitrary<'escapes' | 'no-escapes'>, (text, mode) => {
        const v = classifyStatement(text, { backslashes: mode });
        if (someReadingDropsUser(text, FIRST[mode])) expect(v.kind).not.toBe('other');
        if (!needsClassification(text, { backslashes: mode })) expect(v).toEqual({ kind: 'other' });
      }),
      { numRuns: 6000 },
    );
  });

  it('finds the sql_mode attacks of the review (sanity of the reference)', () => {
    const attack = "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; DROP USER v -- '";
    expect(someReadingDropsUser(attack, FIRST.escapes)).toBe(true);
    expect(someReadingDropsUser("SELECT 'a\\'; DROP USER v -- '", FIRST.escapes)).toBe(false);
    expect(someReadingDropsUser("SELECT 1 AS [x']; DROP USER v; -- ']", FIRST.escapes)).toBe(true);
    const later = "SELECT 1; SET sql_mode = CONCAT('NO_BACKSLASH_ESCAPES', LEFT('\\';', 0)); SELECT '\\'; DROP USER v; -- '";
    expect(someReadingDropsUser(later, FIRST.escapes)).toBe(true);
  });
});

describe('reports the pre-check never loses', () => {
  const names = fc.constantFrom('gbk', "'gbk'", '`sjis`', '"big5"', 'utf8mb4', 'DEFAULT', '28', '@cs', "CONCAT('g','bk')");
  const target = fc.constantFrom(
    'NAMES ', 'CHARACTER SET ', 'CHARSET ', 'CHAR SET ', 'character_set_client = ', 'SESSION character_set_client = ',
    '@@character_set_client := ', '@@session.character_set_client = ', '@@GLOBAL.character_set_client = ', '`character_set_client` = ',
  );
  const filler = fc.constantFrom('', '@a = 1, ', "@b = 'x', ", 'sql_mode = DEFAULT, ');
  const space = fc.constantFrom(' ', '  ', ' /* c */ ', '\n-- c\n');

  it('a character set change anywhere in a SET list is reported, or refused', () => {
    fc.assert(
      fc.property(filler, target, names, space, fc.constantFrom('', ', @z = 2'), (before, t, name, sp, after) => {
        const sql = `SET${sp}${before}${t}${name}${after}`;
        expect(needsClassification(sql, { backslashes: 'escapes' })).toBe(true);
        const v = classifyStatement(sql, { backslashes: 'escapes' });
        if (v.kind === 'other') expect(v.clientCharset?.changes.length).toBe(1);
        else expect(v.kind).toBe('unknown');
      }),
      { numRuns: 500 },
    );
  });

  const source = fc.constantFrom('@q', 'CONCAT(@a, @b)', "CONCAT('DROP ', 'USER x')", '(SELECT q FROM t)');
  const wrap = fc.constantFrom(
    (s: string) => s,
    (s: string) => `SET STATEMENT max_statement_time = 1 FOR ${s}`,
    (s: string) => `BEGIN NOT ATOMIC SELECT 1; ${s}; END`,
    (s: string) => `IF @x THEN ${s}; END IF`,
    (s: string) => `CREATE PROCEDURE p() BEGIN ${s}; EXECUTE s; END`,
    (s: string) => `CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO ${s}`,
    (s: string) => `SELECT 1; ${s}`,
  );

  it('dynamic SQL from anything but a literal is reported wherever it sits', () => {
    fc.assert(
      fc.property(fc.constantFrom('PREPARE s FROM ', 'EXECUTE IMMEDIATE ', 'execute   immediate '), source, wrap, (verb, src, w) => {
        const sql = w(`${verb}${src}`);
        expect(needsClassification(sql)).toBe(true);
        expect(classifyStatement(sql)).toEqual({ kind: 'other', unreadDynamicSql: true });
      }),
      { numRuns: 300 },
    );
  });
});
