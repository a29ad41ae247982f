/**
 * The verdict on a text of several statements, from the verdicts on each:
 * what may not share a text with other statements (account statements,
 * KILL, a character set change the rest would be parsed in, a later change
 * of sql_mode before text another mode reads differently), and the reports
 * of the others merged.
 */
import { OTHER, unknown } from './verdicts.js';
import { StatementScanner } from './scanner.js';
import { charsetReport } from './set-list.js';
import type { Token, TokenText } from './tokens.js';
import type { CharsetChange, StatementVerdict } from './types.js';

const SEMICOLON = 0x3b;

/** One statement of a text, and whether it comes after the text's first ';' (so is read in the reading's rest mode). */
export interface Piece {
  readonly tokens: readonly Token[];
  readonly rest: boolean;
}

/** The statements of a text's tokens, split at ';' (empty ones left out). */
export function splitStatements(tokens: readonly Token[]): Piece[] {
  const pieces: Piece[] = [];
  let current: Token[] = [];
  let rest = false;
  for (const tok of tokens) {
    if (tok.type !== 'punct' || tok.byte !== SEMICOLON) {
      current.push(tok);
      continue;
    }
    if (current.length > 0) pieces.push({ tokens: current, rest });
    current = [];
    rest = true;
  }
  if (current.length > 0) pieces.push({ tokens: current, rest });
  return pieces;
}

/** Whether the scanner takes the statement for one that may change the sql_mode of later statements. */
function mayChangeMode(tokens: readonly Token[], text: TokenText): boolean {
  const scanner = new StatementScanner();
  for (const tok of tokens) {
    if (tok.type === 'punct') scanner.punct(tok.byte);
    else if (tok.type === 'quoted') scanner.quoted(tok.byte, tok.end - tok.start, text.name(tok));
    else scanner.word(tok.keyword);
  }
  return scanner.mayChangeMode;
}

/**
 * The verdict on a text of several statements. Account statements and KILL
 * are refused there; a character set change that is not ASCII-transparent
 * must be the last statement (the server parses the rest in it); a
 * statement after the first that may change the sql_mode must not be
 * followed by text another mode reads differently.
 */
export function combineStatements(pieces: readonly Piece[], verdicts: readonly StatementVerdict[], text: TokenText): StatementVerdict {
  const firstUnknown = verdicts.find((v) => v.kind === 'unknown');
  if (firstUnknown !== undefined) return firstUnknown;
  if (verdicts.length <= 1) return verdicts[0] ?? OTHER;
  if (verdicts.some((v) => v.kind === 'account')) return unknown('account statement in a multi-statement text');
  if (verdicts.some((v) => v.kind === 'kill')) return unknown('KILL in a multi-statement text');
  const last = verdicts.length - 1;
  const changes: CharsetChange[] = [];
  let unread = false;
  for (let i = 0; i <= last; i++) {
    const v = verdicts[i] as StatementVerdict;
    if (v.kind !== 'other') continue;
    if (v.unreadDynamicSql === true) unread = true;
    if (v.clientCharset !== undefined) {
      if (i < last && !v.clientCharset.asciiTransparent) return unknown('character set change in a multi-statement text');
      changes.push(...v.clientCharset.changes);
    }
    const piece = pieces[i] as Piece;
    if (i < last && piece.rest && mayChangeMode(piece.tokens, text)) {
      if (pieces.slice(i + 1).some((p) => p.tokens.some((t) => text.modeSensitive(t)))) {
        return unknown('the sql_mode may change between statements');
      }
    }
  }
  return {
    kind: 'other',
    ...(unread ? { unreadDynamicSql: true as const } : {}),
    ...(changes.length > 0 ? { clientCharset: charsetReport(changes) } : {}),
  };
}
