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
 * 'other'. The reference reads executable comments as a server of each
 * engine and version would (run: their content is code up to the first `*\/`
 * outside quoted text; skipped: a comment up to the first `*\/`), and the
 * verdict on a text with one executable comment must be what its two
 * readings give. Also: character set changes and unread dynamic SQL are
 * never lost by the pre-check.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyStatement, needsClassification, type BackslashMode, type StatementVerdict } from './account-statements.js';
import { describeVerdict } from './test-support/account-statement-cases.js';

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
 * How a reference server reads executable comments: MariaDB or MySQL, and
 * its version. (The generators use versions below 50700 and markers
 * followed by a space, where every server reads the version alike.)
 */
interface RefServer {
  readonly mariadb: boolean;
  readonly version: number;
}

const ANY_SERVER: RefServer = { mariadb: true, version: Number.POSITIVE_INFINITY };
const REF_SERVERS: readonly RefServer[] = [false, true].flatMap((mariadb) => [0, 40101, 50003, 100000, Number.POSITIVE_INFINITY].map((version) => ({ mariadb, version })));

/** Whether `server` runs the executable comment whose marker starts at `at` (`/*!` or `/*M!`), and where its content starts. */
function refMarker(text: string, at: number, server: RefServer): { runs: boolean; content: number } | undefined {
  const maria = text[at + 2] === 'M';
  if (text[at + (maria ? 3 : 2)] !== '!') return undefined;
  let i = at + (maria ? 4 : 3);
  let digits = '';
  while (digits.length < 6 && /[0-9]/.test(text[i] ?? '')) digits += text[i++];
  // Fewer than five digits are no version, and code.
  if (digits.length < 5) return { runs: maria ? server.mariadb : true, content: at + (maria ? 4 : 3) };
  const version = Number(digits);
  return { runs: (maria ? server.mariadb : true) && version <= server.version, content: i };
}

/**
 * Lexes the statement that starts at `from` in `mode`, as `server`, inside
 * a run executable comment or not: the statement, where the next one
 * starts, and whether that is inside a run executable comment; or undefined
 * when a quote or comment never closes (the server refuses that statement
 * and runs nothing after it).
 */
function refStatement(
  text: string,
  from: number,
  mode: RefMode,
  server: RefServer = ANY_SERVER,
  inExecutable = false,
): { statement: RefStatement; next: number; inExecutable: boolean } | undefined {
  const words: string[] = [];
  const names: string[] = [];
  let i = from;
  let running = inExecutable;
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
    if (ch === ';') return { statement: { words, names }, next: i + 1, inExecutable: running };
    if (running && ch === '*' && text[i + 1] === '/') {
      running = false;
      i += 2;
    } else if (/\s/.test(ch)) i++;
    else if (ch === '#' || (ch === '-' && text[i + 1] === '-' && /[\s\x00-\x1f]/.test(text[i + 2] ?? '\n'))) {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl + 1;
    } else if (ch === '/' && text[i + 1] === '*') {
      const marker = refMarker(text, i, server);
      if (marker?.runs === true) {
        // Inside a run one, a run one just goes on until the first */ (MariaDB has one flag).
        running = true;
        i = marker.content;
      } else {
        const end = text.indexOf('*/', i + 2);
        if (end === -1) return undefined;
        i = end + 2;
      }
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
  // A run executable comment that never ends: the server refuses the statement.
  if (running) return undefined;
  return { statement: { words, names }, next: text.length + 1, inExecutable: false };
}

/** A statement after which the server may parse the next ones in another sql_mode. */
function changesMode(s: RefStatement): boolean {
  return s.words.includes('SQL_MODE') || s.words.includes('EXECUTE') || s.names.includes('sql_mode');
}

/** True when some sequence of modes the server may go through makes a statement start with DROP USER. */
function someReadingDropsUser(text: string, first: readonly RefMode[], server: RefServer = ANY_SERVER): boolean {
  const visit = (from: number, inExecutable: boolean, modes: readonly RefMode[], depth: number): boolean => {
    if (from > text.length || depth > 12) return false;
    for (const mode of modes) {
      const lexed = refStatement(text, from, mode, server, inExecutable);
      if (lexed === undefined) continue;
      const { statement, next } = lexed;
      if (statement.words[0] === 'DROP' && statement.words[1] === 'USER') return true;
      if (visit(next, lexed.inExecutable, changesMode(statement) ? ALL : [mode], depth + 1)) return true;
    }
    return false;
  };
  return visit(0, false, first, 0);
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

describe('executable comments', () => {
  /** Markers followed by a space (so no digit runs into the version), closers, and what hides or shows a statement. */
  const EXEC_FRAGMENTS = [
    ...FRAGMENTS, '/*! ', '/*!40101 ', '/*!50003 ', '/*M! ', '/*M!100000 ', '*/', '*/ ', "'*/'", '-- */\n', 'SET NAMES gbk',
  ];
  const execTexts = fc.array(fc.constantFrom(...EXEC_FRAGMENTS), { minLength: 1, maxLength: 14 }).map((parts) => parts.join(' '));
  const execStatements = fc
    .array(fc.constantFrom(...PIECES, '/*!40101 DROP USER v */', "/*!40101 SELECT '*/ DROP USER v -- ' */", "/*!50003 '*/ DROP USER v -- ' */", '/*M!100000 SELECT 1 */ DROP USER v', '/*!40101 SELECT 1; */ DROP USER v', "BEGIN NOT ATOMIC /*!40101 SELECT 1; DROP */ USER v; END", "/*!50003 ' */ /*!40101 DROP USER v */", '/*!40101 ', ' */'), { minLength: 1, maxLength: 5 })
    .map((parts) => parts.join('; '));

  it('is never other when a server of some engine and version makes a statement DROP USER, and the pre-check agrees', () => {
    fc.assert(
      fc.property(fc.oneof(execTexts, execStatements), fc.constantFrom('escapes', 'no-escapes') as fc.Arbitrary<'escapes' | 'no-escapes'>, (text, mode) => {
        const v = classifyStatement(text, { backslashes: mode });
        if (REF_SERVERS.some((server) => someReadingDropsUser(text, FIRST[mode], server))) expect(v.kind).not.toBe('other');
        if (!needsClassification(text, { backslashes: mode })) expect(v).toEqual({ kind: 'other' });
      }),
      { numRuns: 4000 },
    );
  });

  it('the reference finds what only one reading of a comment runs (sanity)', () => {
    const skippedRuns = "/*!50003 '*/ DROP USER v -- ' */";
    expect(someReadingDropsUser(skippedRuns, FIRST.escapes, { mariadb: true, version: 0 })).toBe(true);
    expect(someReadingDropsUser(skippedRuns, FIRST.escapes, ANY_SERVER)).toBe(false);
    expect(someReadingDropsUser('/*M!100000 DROP USER v */', FIRST.escapes, { mariadb: false, version: 80036 })).toBe(false);
    expect(someReadingDropsUser('/*M!100000 DROP USER v */', FIRST.escapes, { mariadb: true, version: 101106 })).toBe(true);
    expect(someReadingDropsUser("/*!40101 SELECT '*/ DROP USER v -- ' */", FIRST.escapes, { mariadb: true, version: 40000 })).toBe(true);
  });

  /**
   * Statement text without comments, backslashes or brackets, whose quoted
   * parts close (so every sql_mode reads it alike): account words, character
   * set changes, dynamic SQL, ';'.
   */
  const TOKENS = [
    'SET', 'NAMES', 'gbk', 'utf8mb4', 'latin1', 'CHARACTER', 'character_set_client', '@a', '@@session.character_set_client', '=', ',', ';',
    'DROP', 'USER', 'v', 'KILL', '5', 'SELECT', '1', "'x'", '"y"', '`z`', 'PREPARE', 's', 'FROM', '@q', 'EXECUTE', 'IMMEDIATE',
    "'DROP USER w'", "'SET NAMES sjis'", 'BEGIN', 'NOT', 'ATOMIC', 'END', 'CREATE', 'PROCEDURE', 'p()', 'PASSWORD', 'IDENTIFIED',
    'BY', 'GRANT', 'TO', '(', ')', 'sql_mode', 'DEFAULT',
  ];
  const plain = fc.array(fc.constantFrom(...TOKENS), { maxLength: 8 }).map((t) => t.join(' '));
  const outside = fc.array(fc.constantFrom(...TOKENS, "'*/'"), { maxLength: 6 }).map((t) => t.join(' '));
  const marker = fc.constantFrom('/*!', '/*!40101', '/*!99999', '/*!50700', '/*M!100000', '/*M!', '/*!100000', '/*!800001');

  /** The verdict a text with one executable comment must get from the verdicts of its readings. */
  const combined = (readings: readonly StatementVerdict[]): string => {
    if (readings.some((r) => r.kind !== 'other')) return 'unknown';
    const changes = new Set<string>();
    let unread = false;
    let transparent = true;
    for (const r of readings) {
      if (r.kind !== 'other') continue;
      unread ||= r.unreadDynamicSql === true;
      transparent &&= r.clientCharset?.asciiTransparent ?? true;
      for (const c of r.clientCharset?.changes ?? []) changes.add(JSON.stringify(c));
    }
    return JSON.stringify({ unread, changes: [...changes].sort(), transparent });
  };
  const summary = (v: StatementVerdict): string =>
    v.kind !== 'other'
      ? v.kind
      : JSON.stringify({
          unread: v.unreadDynamicSql === true,
          changes: (v.clientCharset?.changes ?? []).map((c) => JSON.stringify(c)).sort(),
          transparent: v.clientCharset?.asciiTransparent ?? true,
        });

  it('reads one executable comment as code and as a comment, and combines the two', () => {
    fc.assert(
      fc.property(outside, marker, plain, outside, fc.constantFrom(...(['escapes', 'no-escapes', 'unknown'] as const)), (before, m, inside, after, backslashes) => {
        const text = `${before} ${m} ${inside} */ ${after}`;
        const run = classifyStatement(`${before} ${inside} ${after}`, { backslashes });
        const skipped = classifyStatement(`${before} ${after}`, { backslashes });
        const v = classifyStatement(text, { backslashes });
        // Without a version every server runs it; /*M! MySQL skips. A MySQL before 8.1 reads five digits of six: the sixth is code.
        const readings = m === '/*!' ? [run] : [run, skipped];
        if (m === '/*!100000' || m === '/*!800001') readings.push(classifyStatement(`${before} ${m.slice(-1)} ${inside} ${after}`, { backslashes }));
        const expected = combined(readings);
        expect(summary(v), `${text}: ${describeVerdict(v)}`).toBe(expected);
        if (v.kind !== 'other' || v.unreadDynamicSql === true || v.clientCharset !== undefined) expect(needsClassification(text, { backslashes })).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});
