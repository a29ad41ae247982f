/**
 * The full reading: tokens for each reading of a short text (each sql_mode
 * the server may be in, as each server that reads its executable comments
 * differently), one statement at a time, the readings' verdicts compared,
 * and the rewrite of IAM clauses. Entered only for texts the pre-check flags.
 */
import { IamdbError } from '../../../errors/index.js';
import { credentialClause, type AccountDialect } from './credential-clause.js';
import { Cursor, NotUnderstood } from './cursor.js';
import { executeImmediate, MAX_NESTING, prepare, type Context } from './dynamic-sql.js';
import { combineServerReadings, CommentsMet, ServerReadings, type ServerReading } from './executable-comments.js';
import { insideVerdict, OTHER, unknown, UNREAD_DYNAMIC_SQL } from './verdicts.js';
import { KW } from './keywords.js';
import { type LexMode, type PhaseSeen, type Reading } from './lexer.js';
import { precheckChunks, type ClassifyCounters, type ClassifyOptions } from './precheck.js';
import { chunksOf, literalReadingSet, mayDiffer, readingSetFor, readingsOf, totalLength, type ReadingSet, type StatementText } from './readings.js';
import { Flag, StatementScanner } from './scanner.js';
import { combineStatements, splitStatements } from './multi-statement.js';
import { setList } from './set-list.js';
import { createOrAlterUser, dropUser, grant, kill, renameUser, setPassword } from './statements.js';
import { tokenize, TokenText, type Token } from './tokens.js';
import type { Account, AccountVerdict, ByteSpan, NamedAccount, PasswordHashes, StatementVerdict } from './types.js';

/**
 * Longest text the full reading accepts. A text that may be account
 * management and is longer is 'unknown' ("too long to verify"): no legitimate
 * account statement comes near it, and the bound keeps the token objects of
 * the full reading small.
 */
export const MAX_VERIFIED_BYTES = 64 * 1024;

/** Most PREPARE / EXECUTE IMMEDIATE read inside one compound statement (each costs a pass over its rest). */
const MAX_DYNAMIC_PER_STATEMENT = 8;

/**
 * Most sql_mode readings of one text, as one server, the full reading
 * tokenizes. Texts need one to six (backslashes in both quotes, in the
 * first statement and the rest); more only when '[' and backslashes mix
 * everywhere.
 */
const MAX_FULL_READINGS = 8;

/**
 * Most readings of one text in all (sql_modes times servers). A statement
 * of a dump needs one to three servers and one sql_mode.
 */
const MAX_READINGS_IN_ALL = 16;

/** Key of an account in a PasswordHashes map: JSON of [user, host], unambiguous for any names. */
export function accountKey(account: Account): string {
  return JSON.stringify([account.user, account.host]);
}

/**
 * A key under which accounts the server may take for one another collide:
 * trailing spaces dropped from both parts and the host in lower case. (The
 * grant tables compare names with PAD SPACE, while the server's in-memory
 * list compares them exactly, so 'u' and 'u ' can meet in one row.)
 */
export function accountMatchKey(account: Account): string {
  return JSON.stringify([account.user.replace(/ +$/, ''), account.host.replace(/ +$/, '').toLowerCase()]);
}

/** SET STATEMENT var = value, ... FOR statement: the inner statement decides. */
function setStatementFor(c: Cursor, ctx: Context): StatementVerdict {
  const forAt = c.findWordAtDepthZero('FOR');
  if (forAt === -1) return OTHER; // the server refuses it
  if (ctx.depth + 1 > MAX_NESTING) return unknown('SET STATEMENT nested too deeply');
  // MariaDB refuses character_set_client there; were it taken, the inner statement would be parsed in it.
  if (setList(new Cursor(c.tokens.slice(c.index, forAt), ctx.text)).clientCharset !== undefined) {
    return unknown('character set change inside SET STATEMENT');
  }
  const inner = classifyStatementTokens(c.tokens.slice(forAt + 1), { ...ctx, depth: ctx.depth + 1 });
  return insideVerdict(inner, 'SET STATEMENT');
}

/**
 * A statement that is not itself one of ours: the scanner decides whether
 * account management hides inside it (compound statements, stored programs).
 * Dynamic SQL found there is classified like at the top level; a character
 * set change there is not understood.
 */
function embedded(tokens: readonly Token[], ctx: Context): StatementVerdict {
  const scanner = new StatementScanner();
  let dynamic = 0;
  let unread = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (tok.type === 'punct') {
      scanner.punct(tok.byte);
      continue;
    }
    const flag = tok.type === 'quoted' ? scanner.quoted(tok.byte, tok.end - tok.start, ctx.text.name(tok)) : scanner.word(tok.keyword);
    if (flag === Flag.NONE) continue;
    if (flag === Flag.KILL) return unknown('KILL inside another statement');
    if (flag === Flag.BINLOG) return unknown('BINLOG inside another statement');
    if (flag === Flag.ACCOUNT) return unknown('account statement inside another statement');
    if (flag === Flag.CHARSET) return unknown('character set change inside another statement');
    if (++dynamic > MAX_DYNAMIC_PER_STATEMENT) return unknown('too much dynamic SQL in one statement to verify');
    // CALL execute_prepared_stmt(...): its argument runs as SQL.
    if (tok.type === 'quoted' || tok.keyword === KW.EXECUTE_PREPARED_STMT) {
      unread = true;
      continue;
    }
    // PREPARE at i, or IMMEDIATE at i after EXECUTE.
    const start = tok.keyword === KW.PREPARE ? i : i - 1;
    const inner = classifyStatementTokens(tokens.slice(start), ctx);
    if (inner.kind !== 'other') return inner;
    if (inner.unreadDynamicSql === true) unread = true;
  }
  return unread ? UNREAD_DYNAMIC_SQL : OTHER;
}

/** Dispatch on the first words of one statement. */
function dispatch(c: Cursor, ctx: Context): StatementVerdict {
  const first = c.wordAt();
  const second = c.wordAt(1);
  const skip = (n: number): Cursor => (c.seek(n), c);
  switch (first) {
    case 'CREATE':
      if (second === 'USER') return createOrAlterUser(skip(2), 'create', false);
      if (second === 'OR' && c.isWord('REPLACE', 2) && c.isWord('USER', 3)) return createOrAlterUser(skip(4), 'create', true);
      break;
    case 'ALTER':
      if (second === 'USER') return createOrAlterUser(skip(2), 'alter', false);
      break;
    case 'DROP':
      if (second === 'USER') return dropUser(skip(2));
      break;
    case 'RENAME':
      if (second === 'USER') return renameUser(skip(2));
      break;
    case 'SET':
      if (second === 'PASSWORD') return setPassword(skip(2));
      if (second === 'STATEMENT') return setStatementFor(skip(2), ctx);
      return setList(skip(1));
    case 'GRANT':
      return grant(skip(1));
    case 'KILL':
      return kill(skip(1));
    case 'PREPARE':
      return prepare(c, ctx);
    case 'EXECUTE':
      if (second === 'IMMEDIATE') return executeImmediate(c, ctx);
      break;
    case 'BINLOG':
      return unknown('BINLOG (replays events the gateway cannot read)');
    default:
      break;
  }
  return embedded(c.tokens, ctx);
}

/** One statement's tokens (no ';'). */
function classifyStatementTokens(tokens: readonly Token[], ctx: Context): StatementVerdict {
  if (tokens.length === 0) return OTHER;
  try {
    return dispatch(new Cursor(tokens, ctx.text), ctx);
  } catch (err) {
    if (err instanceof NotUnderstood) return unknown(err.message);
    throw err;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

type ReadingResult = StatementVerdict | 'rejected';
type Seen = { readonly first: PhaseSeen; readonly rest: PhaseSeen };

/** How many readings the full reading of one text (dynamic SQL literals apart) has made. */
interface Budget {
  readings: number;
}

/** One reading of a whole text: 'rejected' when the server would refuse the text before running anything. */
function readOne(bytes: Uint8Array, reading: Reading, server: ServerReading, met: CommentsMet, depth: number, counters: ClassifyCounters | undefined): { result: ReadingResult; seen: Seen } {
  const tk = tokenize(bytes, reading, server, met);
  if (counters !== undefined) counters.tokens += tk.tokens.length;
  const done = (result: ReadingResult) => ({ result, seen: tk.seen });
  if (tk.ambiguous !== undefined) return done(unknown(tk.ambiguous));
  if (tk.end === 'unterminated quoted text') return done(tk.rejectedWhole ? 'rejected' : unknown(tk.end));
  if (tk.end !== 'complete') return done(unknown(tk.end));
  const text = new TokenText(bytes);
  const pieces = splitStatements(tk.tokens);
  const literal = (l: Uint8Array, mode: LexMode, d: number): StatementVerdict => readLiteral(l, mode, d, counters);
  const verdicts = pieces.map((piece) => {
    const ctx: Context = { text, mode: piece.rest ? reading.rest : reading.first, depth, counters, readLiteral: literal };
    return classifyStatementTokens(piece.tokens, ctx);
  });
  const only = combineStatements(pieces, verdicts, text);
  if (only.kind === 'account' && depth === 0 && !isUtf8(bytes)) return done(unknown('account statement is not valid UTF-8'));
  return done(only);
}

/**
 * As one server: every sql_mode reading that may differ from those already
 * read, then their verdicts combined; 'rejected' when the server refuses the
 * text in every reading.
 */
function readModes(bytes: Uint8Array, set: ReadingSet, server: ServerReading, met: CommentsMet, depth: number, budget: Budget, counters: ClassifyCounters | undefined): ReadingResult {
  const done: { reading: Reading; seen: Seen }[] = [];
  const results: ReadingResult[] = [];
  for (const reading of readingsOf(set)) {
    if (done.some((d) => !mayDiffer(d.reading, reading, d.seen))) continue;
    if (done.length >= MAX_FULL_READINGS) return unknown('reads differently in too many sql_modes to verify');
    if (++budget.readings > MAX_READINGS_IN_ALL) return unknown('reads differently in too many ways to verify');
    const { result, seen } = readOne(bytes, reading, server, met, depth, counters);
    done.push({ reading, seen });
    results.push(result);
  }
  return combine(results);
}

/**
 * Every reading of a text: as each server that reads its executable
 * comments differently (one server when it has none), in each sql_mode.
 * Without executable comments the sql_mode readings decide; with them, the
 * servers' verdicts are combined by combineServerReadings.
 */
function readAll(bytes: Uint8Array, set: ReadingSet, depth: number, counters: ClassifyCounters | undefined): ReadingResult {
  const servers = new ServerReadings();
  const budget: Budget = { readings: 0 };
  const results: ReadingResult[] = [];
  let executable = false;
  for (let server = servers.next(); server !== undefined; server = servers.next()) {
    const met = new CommentsMet();
    const result = readModes(bytes, set, server, met, depth, budget, counters);
    // Whatever the other servers do, the text is refused.
    if (result !== 'rejected' && result.kind === 'unknown') return result;
    servers.record(server, met);
    executable ||= met.any;
    results.push(result);
  }
  if (servers.exceeded) return unknown('reads differently on too many servers to verify (executable comments)');
  return executable ? combineServerReadings(results) : (results[0] as ReadingResult);
}

/** The text of a dynamic SQL literal, in every mode that reads backslashes like the statement it came from. */
function readLiteral(literal: Uint8Array, mode: LexMode, depth: number, counters: ClassifyCounters | undefined): StatementVerdict {
  const set = literalReadingSet(mode);
  if (!precheckChunks([literal], set, counters)) return OTHER;
  const verdict = readAll(literal, set, depth, counters);
  // The server refuses to prepare it: nothing runs.
  return verdict === 'rejected' ? OTHER : verdict;
}

function hasIamClause(v: ReadingResult): boolean {
  return v !== 'rejected' && v.kind === 'account' && v.effects.some((e) => e.action === 'becomes-iam');
}

/** Every reading the server may make must give the same verdict. */
function combine(results: readonly ReadingResult[]): ReadingResult {
  const valid = results.filter((r): r is StatementVerdict => r !== 'rejected');
  const first = valid[0];
  if (first === undefined) return 'rejected';
  const firstUnknown = valid.find((v) => v.kind === 'unknown');
  if (firstUnknown !== undefined) return firstUnknown;
  // A reading the server would refuse runs nothing, so the others decide; not for
  // statements we rewrite, whose new text must mean the same in every mode.
  if (valid.length < results.length && valid.some(hasIamClause)) return unknown('backslash escapes change the meaning');
  const key = JSON.stringify(first);
  if (valid.some((v) => JSON.stringify(v) !== key)) return unknown('backslash escapes change the meaning');
  return first;
}

function rewriteClauses(bytes: Uint8Array, verdict: AccountVerdict, hashes: PasswordHashes, dialect: AccountDialect): Buffer {
  const parts: Uint8Array[] = [];
  let at = 0;
  verdict.effects.forEach((effect, index) => {
    if (effect.action !== 'becomes-iam') return;
    const account: NamedAccount = effect.account;
    const hash = typeof hashes === 'function' ? hashes(account) : hashes.get(accountKey(account));
    const clause = credentialClause(hash, dialect, index + 1);
    const span: ByteSpan = effect.clause;
    parts.push(bytes.subarray(at, span.start), Buffer.from(clause, 'latin1'));
    at = span.end;
  });
  parts.push(bytes.subarray(at));
  return Buffer.concat(parts);
}

/**
 * Classifies one COM_QUERY text: account management (with its effect on
 * each account), KILL, other, or unknown (refuse it). See the module
 * documentation of ../account-statements.ts for the rules.
 *
 * @example
 *   const v = classifyStatement("CREATE USER 'app' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'", { backslashes: 'escapes' });
 *   // v.kind === 'account', v.effects[0].action === 'becomes-iam', v.rewrite!(() => hash)
 */
export function classifyStatement(text: StatementText, options: ClassifyOptions = {}): StatementVerdict {
  const chunks = chunksOf(text);
  const set = readingSetFor(options.backslashes ?? 'unknown');
  const counters = options.counters;
  if (!precheckChunks(chunks, set, counters)) return OTHER;
  if (totalLength(chunks) > MAX_VERIFIED_BYTES) return unknown(`too long to verify (more than ${MAX_VERIFIED_BYTES} bytes)`);
  if (counters !== undefined) counters.fullReadings++;
  const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
  const read = readAll(bytes, set, 0, counters);
  const verdict = read === 'rejected' ? unknown('unterminated quoted text') : read;
  if (verdict.kind !== 'account' || verdict.effects.length === 0) return verdict;
  if (!verdict.effects.every((e) => e.action === 'becomes-iam')) return verdict;
  return { ...verdict, rewrite: (hashes: PasswordHashes, dialect: AccountDialect = 'mariadb') => rewriteClauses(bytes, verdict, hashes, dialect) };
}
