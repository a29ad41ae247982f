/**
 * The full reading: tokens for each reading of a short text, one statement
 * at a time, the readings' verdicts compared, and the rewrite of IAM
 * clauses. Entered only for texts the pre-check flags.
 */
import { IamdbError } from '../../../errors/index.js';
import { NATIVE_PASSWORD_HASH_PATTERN } from '../auth/native-password.js';
import { Cursor, NotUnderstood } from './cursor.js';
import { type Reading } from './lexer.js';
import { precheckChunks, type ClassifyCounters, type ClassifyOptions } from './precheck.js';
import { chunksOf, mayDiffer, readingsFor, totalLength, type StatementText } from './readings.js';
import { Flag, StatementScanner } from './scanner.js';
import { createOrAlterUser, dropUser, grant, kill, renameUser, setList, setPassword } from './statements.js';
import { tokenize, TokenText, type Token } from './tokens.js';
import type { Account, AccountVerdict, ByteSpan, NamedAccount, PasswordHashes, StatementVerdict, UnknownVerdict } from './types.js';

/**
 * Longest text the full reading accepts. A text that may be account
 * management and is longer is 'unknown' ("too long to verify"): no legitimate
 * account statement comes near it, and the bound keeps the token objects of
 * the full reading small.
 */
export const MAX_VERIFIED_BYTES = 64 * 1024;

/** Dynamic SQL inside dynamic SQL (or SET STATEMENT inside SET STATEMENT) deeper than this is not read. */
const MAX_NESTING = 2;

/** Most PREPARE / EXECUTE IMMEDIATE read inside one compound statement (each costs a pass over its rest). */
const MAX_DYNAMIC_PER_STATEMENT = 8;

const OTHER: StatementVerdict = { kind: 'other' };
const SEMICOLON = 0x3b;

function unknown(reason: string): UnknownVerdict {
  return { kind: 'unknown', reason };
}

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

interface Context {
  readonly text: TokenText;
  readonly reading: Reading;
  readonly depth: number;
  readonly counters: ClassifyCounters | undefined;
}

/** The single-or-concatenated string literal that makes up `tokens`, or undefined for any other expression. */
function literalValue(tokens: readonly Token[], text: TokenText): Uint8Array | undefined {
  let i = 0;
  const first = tokens[0];
  const second = tokens[1];
  // An introducer (_utf8mb4'...', N'...') right before the first string.
  if (first?.type === 'word' && second?.type === 'quoted' && first.end === second.start) {
    const word = text.upper(first);
    if (word === 'N' || word.startsWith('_')) i = 1;
  }
  const parts: Uint8Array[] = [];
  for (; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (tok.type !== 'quoted' || tok.byte === 0x60) return undefined;
    parts.push(text.value(tok));
  }
  return parts.length === 0 ? undefined : Buffer.concat(parts);
}

/** The verdict on a PREPARE/EXECUTE IMMEDIATE source: its literal text is classified like a statement. */
function dynamicSource(source: readonly Token[], what: string, ctx: Context): StatementVerdict {
  const literal = literalValue(source, ctx.text);
  // @var and expressions: the gateway cannot see what runs (see the module documentation).
  if (literal === undefined) return OTHER;
  if (ctx.depth + 1 > MAX_NESTING) return unknown(`${what} nested too deeply`);
  if (!precheckChunks([literal], [ctx.reading], ctx.counters)) return OTHER;
  const inner = readText(literal, ctx.reading, ctx.depth + 1, ctx.counters);
  if (inner === 'rejected') return OTHER;
  return insideVerdict(inner, what);
}

function insideVerdict(inner: StatementVerdict, what: string): StatementVerdict {
  switch (inner.kind) {
    case 'other':
      return OTHER;
    case 'kill':
      return unknown(`KILL inside ${what}`);
    case 'account':
      return unknown(`account statement inside ${what}`);
    default:
      return unknown(`inside ${what}: ${inner.reason}`);
  }
}

/** PREPARE name FROM source, at the cursor. */
function prepare(c: Cursor, ctx: Context): StatementVerdict {
  c.expectWord('PREPARE');
  const name = c.next();
  if (name.type === 'punct') throw new NotUnderstood('PREPARE without a name');
  c.expectWord('FROM');
  return dynamicSource(c.tokens.slice(c.index), 'PREPARE', ctx);
}

/** EXECUTE IMMEDIATE source [USING ...], at the cursor. */
function executeImmediate(c: Cursor, ctx: Context): StatementVerdict {
  c.expectWord('EXECUTE');
  c.expectWord('IMMEDIATE');
  const using = c.findWordAtDepthZero('USING');
  return dynamicSource(c.tokens.slice(c.index, using === -1 ? undefined : using), 'EXECUTE IMMEDIATE', ctx);
}

/** SET STATEMENT var = value, ... FOR statement: the inner statement decides. */
function setStatementFor(c: Cursor, ctx: Context): StatementVerdict {
  const forAt = c.findWordAtDepthZero('FOR');
  if (forAt === -1) return OTHER; // the server refuses it
  if (ctx.depth + 1 > MAX_NESTING) return unknown('SET STATEMENT nested too deeply');
  const inner = classifyStatementTokens(c.tokens.slice(forAt + 1), { ...ctx, depth: ctx.depth + 1 });
  return insideVerdict(inner, 'SET STATEMENT');
}

/**
 * A statement that is not itself one of ours: the scanner decides whether
 * account management hides inside it (compound statements, stored programs).
 * Dynamic SQL found there is classified like at the top level.
 */
function embedded(tokens: readonly Token[], ctx: Context): StatementVerdict {
  const scanner = new StatementScanner();
  let dynamic = 0;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] as Token;
    if (tok.type === 'quoted') {
      scanner.quoted();
      continue;
    }
    if (tok.type === 'punct') {
      scanner.punct(tok.byte);
      continue;
    }
    const flag = scanner.word(tok.keyword);
    if (flag === Flag.NONE) continue;
    if (flag === Flag.KILL) return unknown('KILL inside another statement');
    if (flag === Flag.BINLOG) return unknown('BINLOG inside another statement');
    if (flag === Flag.ACCOUNT) return unknown('account statement inside another statement');
    if (++dynamic > MAX_DYNAMIC_PER_STATEMENT) return unknown('too much dynamic SQL in one statement to verify');
    // PREPARE at i, or IMMEDIATE at i after EXECUTE.
    const start = ctx.text.upper(tok) === 'PREPARE' ? i : i - 1;
    const inner = classifyStatementTokens(tokens.slice(start), ctx);
    if (inner.kind !== 'other') return inner;
  }
  return OTHER;
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

function splitStatements(tokens: readonly Token[]): Token[][] {
  const statements: Token[][] = [[]];
  for (const tok of tokens) {
    if (tok.type === 'punct' && tok.byte === SEMICOLON) statements.push([]);
    else (statements[statements.length - 1] as Token[]).push(tok);
  }
  return statements.filter((s) => s.length > 0);
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

/** One reading of a whole text: 'rejected' when the server would refuse the text before running anything. */
function readText(bytes: Uint8Array, reading: Reading, depth: number, counters: ClassifyCounters | undefined): ReadingResult {
  return readTokenized(bytes, reading, depth, counters).result;
}

function readTokenized(
  bytes: Uint8Array,
  reading: Reading,
  depth: number,
  counters: ClassifyCounters | undefined,
): { result: ReadingResult; seen: { backslashInSingleQuotes: boolean; backslashInDoubleQuotes: boolean } } {
  const tk = tokenize(bytes, reading);
  if (counters !== undefined) counters.tokens += tk.tokens.length;
  const done = (result: ReadingResult) => ({ result, seen: tk });
  if (tk.ambiguous !== undefined) return done(unknown(tk.ambiguous));
  if (tk.end === 'unterminated quoted text') return done(tk.rejectedWhole ? 'rejected' : unknown(tk.end));
  if (tk.end !== 'complete') return done(unknown(tk.end));
  const ctx: Context = { text: new TokenText(bytes, reading), reading, depth, counters };
  const verdicts = splitStatements(tk.tokens).map((s) => classifyStatementTokens(s, ctx));
  const firstUnknown = verdicts.find((v) => v.kind === 'unknown');
  if (firstUnknown !== undefined) return done(firstUnknown);
  if (verdicts.length > 1) {
    if (verdicts.some((v) => v.kind === 'account')) return done(unknown('account statement in a multi-statement text'));
    if (verdicts.some((v) => v.kind === 'kill')) return done(unknown('KILL in a multi-statement text'));
  }
  const only = verdicts[0] ?? OTHER;
  if (only.kind === 'account' && depth === 0 && !isUtf8(bytes)) return done(unknown('account statement is not valid UTF-8'));
  return done(only);
}

function hasIamClause(v: ReadingResult): boolean {
  return v !== 'rejected' && v.kind === 'account' && v.effects.some((e) => e.action === 'becomes-iam');
}

/** Every reading the server may make must give the same verdict. */
function combine(results: readonly ReadingResult[]): StatementVerdict {
  const valid = results.filter((r): r is StatementVerdict => r !== 'rejected');
  const first = valid[0];
  if (first === undefined) return unknown('unterminated quoted text');
  const firstUnknown = valid.find((v) => v.kind === 'unknown');
  if (firstUnknown !== undefined) return firstUnknown;
  // A reading the server would refuse runs nothing, so the others decide; not for
  // statements we rewrite, whose new text must mean the same in every mode.
  if (valid.length < results.length && valid.some(hasIamClause)) return unknown('backslash escapes change the meaning');
  const key = JSON.stringify(first);
  if (valid.some((v) => JSON.stringify(v) !== key)) return unknown('backslash escapes change the meaning');
  return first;
}

function rewriteClauses(bytes: Uint8Array, verdict: AccountVerdict, hashes: PasswordHashes): Buffer {
  const parts: Uint8Array[] = [];
  let at = 0;
  verdict.effects.forEach((effect, index) => {
    if (effect.action !== 'becomes-iam') return;
    const account: NamedAccount = effect.account;
    const hash = typeof hashes === 'function' ? hashes(account) : hashes.get(accountKey(account));
    if (hash === undefined || !NATIVE_PASSWORD_HASH_PATTERN.test(hash)) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
        what: 'account statement rewrite',
        reason: `no valid native password hash for account #${index + 1}`,
      });
    }
    const span: ByteSpan = effect.clause;
    parts.push(bytes.subarray(at, span.start), Buffer.from(`IDENTIFIED BY PASSWORD '${hash}'`, 'latin1'));
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
  const readings = readingsFor(options.backslashes ?? 'unknown');
  const counters = options.counters;
  if (!precheckChunks(chunks, readings, counters)) return OTHER;
  if (totalLength(chunks) > MAX_VERIFIED_BYTES) return unknown(`too long to verify (more than ${MAX_VERIFIED_BYTES} bytes)`);
  if (counters !== undefined) counters.fullReadings++;
  const bytes = chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks);
  const first = readings[0] as Reading;
  const firstReading = readTokenized(bytes, first, 0, counters);
  const results: ReadingResult[] = [firstReading.result];
  for (const reading of readings.slice(1)) {
    if (mayDiffer(first, reading, firstReading.seen)) results.push(readText(bytes, reading, 0, counters));
  }
  const verdict = combine(results);
  if (verdict.kind !== 'account' || verdict.effects.length === 0) return verdict;
  if (!verdict.effects.every((e) => e.action === 'becomes-iam')) return verdict;
  return { ...verdict, rewrite: (hashes: PasswordHashes) => rewriteClauses(bytes, verdict, hashes) };
}
