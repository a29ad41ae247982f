/**
 * Executable comments: which servers run the content of `/*! ... *\/`,
 * `/*!NNNNN ... *\/`, `/*M! ... *\/` and `/*M!NNNNNN ... *\/` as code, the
 * readings of a text that follow (one per combination some server makes),
 * and the verdict over those readings.
 *
 * What the servers do (MariaDB 10.11's lexer, checked against a real server
 * by test/integration/mysql-account-statements.test.ts; MySQL's from its
 * reference manual):
 * - `/*!` without a version (fewer than five digits after it): the content
 *   is code on every server, digits included (`/*!1234 x` reads `1234 x`).
 * - `/*!` and a version of five digits, or six where the server reads six:
 *   code when the server's version is at least the number, else a comment.
 *   MySQL before 8.1 reads five digits only (a sixth is then the first byte
 *   of the code); MySQL 8.1 on and MariaDB read six. MariaDB 10 treats
 *   `/*!50700` to `/*!99999` as comments (MySQL 5.7 syntax); an older one
 *   may not, so that reading is kept too.
 * - `/*M!`: MariaDB's form. Code on MariaDB (when its version is at least
 *   the number, if one follows), a plain comment on MySQL.
 * - No server runs a comment marked 999999 (99.99.99, the largest version
 *   one can name): mariadb-dump's first line, `/*M!999999\- enable the
 *   sandbox mode *\/`, relies on it, and the mariadb client sends that line
 *   with the dump's first statement.
 * - As a comment, it ends at the first `*\/`, inside quotes or not. As code,
 *   its content is lexed like any code and the first `*\/` outside quoted
 *   text and comments ends it (`SELECT /*!40101 '*\/' *\/` is `SELECT '*\/'`).
 *
 * The recognizer does not know the server, so it reads a text once per
 * combination of run and skipped comments that some (kind of server,
 * version) makes, at most {@link MAX_SERVER_READINGS}. Which comments a text
 * holds depends on how the earlier ones were read (a quote inside one may
 * swallow the next), so the readings are found as they are read: after
 * each, every (rule, version) whose decisions on the comments met so far
 * differ from those of every reading done is read next.
 *
 * @see https://mariadb.com/kb/en/comment-syntax/
 * @see https://dev.mysql.com/doc/refman/8.0/en/comments.html
 */
import { charsetReport } from './set-list.js';
import type { CharsetChange, OtherVerdict, StatementVerdict } from './types.js';
import { OTHER, unknown } from './verdicts.js';

/** How a kind of server decides on executable comments. */
export const ServerRule = {
  /** MySQL before 8.1: five-digit versions only. */
  MYSQL_FIVE_DIGITS: 0,
  /** MySQL 8.1 on: five- or six-digit versions; `/*M!` is a plain comment. */
  MYSQL: 1,
  /** MariaDB 10 on: `/*!50700` to `/*!99999` are comments. */
  MARIADB: 2,
  /** A MariaDB that runs `/*!50700` to `/*!99999` too. */
  MARIADB_ALL: 3,
} as const;

/** A {@link ServerRule} value. */
export type ServerRuleValue = (typeof ServerRule)[keyof typeof ServerRule];

/** One server the recognizer reads a text as: its rule and its version (as MYSQL_VERSION_ID: 100611 is 10.6.11). */
export interface ServerReading {
  readonly rule: ServerRuleValue;
  readonly version: number;
}

/** The highest server version a reading assumes (see the module documentation: 999999 never runs). */
export const MAX_SERVER_VERSION = 999998;

/** The reading tried first: a server that runs every executable comment a server can run. */
export const RUNS_EVERYTHING: ServerReading = Object.freeze({ rule: ServerRule.MARIADB_ALL, version: MAX_SERVER_VERSION });

const RULES: readonly ServerRuleValue[] = [ServerRule.MARIADB_ALL, ServerRule.MARIADB, ServerRule.MYSQL, ServerRule.MYSQL_FIVE_DIGITS];

/** `/*!` or `/*M!`. */
export const MarkerKind = { MYSQL: 0, MARIADB: 1 } as const;

/** A {@link MarkerKind} value. */
export type MarkerKindValue = (typeof MarkerKind)[keyof typeof MarkerKind];

/** What a server does with one executable comment. */
export const Decision = {
  /** Skipped: a comment up to the first `*\/`. */
  COMMENT: 0,
  /** Run: its content after the marker and the version is code. */
  CODE: 1,
  /** Run by a server that reads five digits of a six-digit version: the sixth digit is code too. */
  CODE_FROM_SIXTH_DIGIT: 2,
} as const;

/** A {@link Decision} value. */
export type DecisionValue = (typeof Decision)[keyof typeof Decision];

/** MySQL 5.7 to 9.99.99 versions, which MariaDB 10 does not run in `/*!` comments. */
const MYSQL_57_FROM = 50700;
const MYSQL_57_TO = 99999;

/**
 * What `server` does with a comment of `kind` whose version has `digits`
 * digits (0 when fewer than five follow the marker: no version) and value
 * `version`.
 *
 * @example decide({ rule: ServerRule.MARIADB, version: 101106 }, MarkerKind.MYSQL, 5, 50700) // Decision.COMMENT
 */
export function decide(server: ServerReading, kind: MarkerKindValue, digits: number, version: number): DecisionValue {
  const mysqlServer = server.rule === ServerRule.MYSQL || server.rule === ServerRule.MYSQL_FIVE_DIGITS;
  if (kind === MarkerKind.MARIADB) {
    if (mysqlServer) return Decision.COMMENT;
    return digits === 0 || version <= server.version ? Decision.CODE : Decision.COMMENT;
  }
  if (digits === 0) return Decision.CODE;
  if (server.rule === ServerRule.MYSQL_FIVE_DIGITS && digits === 6) {
    return Math.floor(version / 10) <= server.version ? Decision.CODE_FROM_SIXTH_DIGIT : Decision.COMMENT;
  }
  if (server.rule === ServerRule.MARIADB && version >= MYSQL_57_FROM && version <= MYSQL_57_TO) return Decision.COMMENT;
  return version <= server.version ? Decision.CODE : Decision.COMMENT;
}

/** Most distinct executable comments (marker and version) one reading tells apart; more is not verified. */
export const MAX_DISTINCT_COMMENTS = 8;

/**
 * The executable comments one reading met, as the lexer reports them: a
 * few integers, no allocation per comment beyond the first
 * {@link MAX_DISTINCT_COMMENTS} distinct ones. Comments every server runs
 * (`/*!` without a version) count in `any` only.
 */
export class CommentsMet {
  /** Some executable comment was met (run or skipped). */
  any = false;
  /** More distinct comments than MAX_DISTINCT_COMMENTS. */
  overflow = false;
  /** Distinct (kind, digits, version), packed. */
  readonly packed: number[] = [];

  /** Notes one comment. */
  add(kind: MarkerKindValue, digits: number, version: number): void {
    this.any = true;
    if (kind === MarkerKind.MYSQL && digits === 0) return;
    const key = pack(kind, digits, version);
    if (this.packed.includes(key)) return;
    if (this.packed.length >= MAX_DISTINCT_COMMENTS) this.overflow = true;
    else this.packed.push(key);
  }
}

// (version * 8 + digits code * 2 + kind): versions have at most six digits.
function pack(kind: MarkerKindValue, digits: number, version: number): number {
  return version * 8 + (digits === 0 ? 0 : digits === 5 ? 2 : 4) + kind;
}

function unpack(key: number): { kind: MarkerKindValue; digits: number; version: number } {
  const code = (key % 8) >> 1;
  return { kind: (key % 2) as MarkerKindValue, digits: code === 0 ? 0 : code === 1 ? 5 : 6, version: Math.floor(key / 8) };
}

/** Most readings of one text as different servers; a text that needs more is 'unknown'. */
export const MAX_SERVER_READINGS = 8;

/**
 * The servers to read a text as, found reading by reading: {@link next}
 * gives one, the caller reads the text as that server and says what it met
 * with {@link record}, and so on until every (rule, version) is covered,
 * that is, decides every comment some reading met like a reading done.
 * Versions need only be tried at the values the comments name (and 0).
 *
 * @example
 *   const servers = new ServerReadings();
 *   for (let s = servers.next(); s !== undefined; s = servers.next()) servers.record(s, readAs(s));
 *   if (servers.exceeded) refuse();
 */
export class ServerReadings {
  readonly #done: { server: ServerReading; met: readonly number[] }[] = [];
  readonly #versions = new Set<number>([0]);
  #exceeded = false;

  /** More readings (or distinct comments) were needed than the bounds allow. */
  get exceeded(): boolean {
    return this.#exceeded;
  }

  /** The next server to read the text as, or undefined when the readings done cover every server (or the bound is hit). */
  next(): ServerReading | undefined {
    if (this.#exceeded) return undefined;
    if (this.#done.length === 0) return RUNS_EVERYTHING;
    // Nothing met that servers decide differently (most texts): one reading is all.
    if (this.#done.every((d) => d.met.length === 0)) return undefined;
    const versions = [...this.#versions].filter((v) => v <= MAX_SERVER_VERSION).sort((a, b) => a - b);
    for (const rule of RULES) {
      for (const version of versions) {
        const candidate: ServerReading = { rule, version };
        if (this.#done.some((d) => agrees(candidate, d.server, d.met))) continue;
        if (this.#done.length >= MAX_SERVER_READINGS) {
          this.#exceeded = true;
          return undefined;
        }
        return candidate;
      }
    }
    return undefined;
  }

  /** What reading the text as `server` met. */
  record(server: ServerReading, met: CommentsMet): void {
    if (met.overflow) this.#exceeded = true;
    this.#done.push({ server, met: [...met.packed] });
    for (const key of met.packed) {
      const { kind, digits, version } = unpack(key);
      if (digits === 0) continue;
      this.#versions.add(version);
      if (kind === MarkerKind.MYSQL && digits === 6) this.#versions.add(Math.floor(version / 10));
    }
  }
}

/** Whether `a` decides every comment in `met` as `b` does (so reads the text as `b` did). */
function agrees(a: ServerReading, b: ServerReading, met: readonly number[]): boolean {
  return met.every((key) => {
    const { kind, digits, version } = unpack(key);
    return decide(a, kind, digits, version) === decide(b, kind, digits, version);
  });
}

/**
 * The verdict over the readings of a text with executable comments, one per
 * server ('rejected' where that server refuses the text before running
 * anything): 'other' when every reading is, with the union of their reports
 * (each change of the client character set some server makes, unread
 * dynamic SQL if any reading has it); 'unknown' when any reading is
 * 'unknown', account management or KILL (never read through a comment).
 */
export function combineServerReadings(results: readonly (StatementVerdict | 'rejected')[]): StatementVerdict | 'rejected' {
  const valid = results.filter((r): r is StatementVerdict => r !== 'rejected');
  if (valid.length === 0) return 'rejected';
  const firstUnknown = valid.find((v) => v.kind === 'unknown');
  if (firstUnknown !== undefined) return firstUnknown;
  if (valid.some((v) => v.kind === 'account')) return unknown('account statement with an executable comment');
  if (valid.some((v) => v.kind === 'kill')) return unknown('KILL with an executable comment');
  return unionOfReports(valid as readonly OtherVerdict[]);
}

function unionOfReports(verdicts: readonly OtherVerdict[]): OtherVerdict {
  const changes: CharsetChange[] = [];
  const seen = new Set<string>();
  for (const v of verdicts) {
    for (const change of v.clientCharset?.changes ?? []) {
      const key = JSON.stringify([change.form, change.charset ?? null, change.scope]);
      if (seen.has(key)) continue;
      seen.add(key);
      changes.push(change);
    }
  }
  const unread = verdicts.some((v) => v.unreadDynamicSql === true);
  if (!unread && changes.length === 0) return OTHER;
  return {
    kind: 'other',
    ...(unread ? { unreadDynamicSql: true as const } : {}),
    ...(changes.length > 0 ? { clientCharset: charsetReport(changes) } : {}),
  };
}
