/**
 * Which PostgreSQL statements leave session state behind, and so pin the
 * client to its server connection (RDS Proxy's list, docs/proxies.md). The
 * native statement filter (native/pg_scan.c) sends a statement here only
 * when it contains one of `PG_FILTER_WORDS` where the word matters, or when
 * it cannot read the statement with certainty; everything else never leaves
 * the native side.
 *
 * The rule for what cannot be read is to pin: a statement this module cannot
 * classify is treated as one that changes the session (fails closed).
 */

/** Why a client is pinned. Code 1 is the native side's own (text over 16 KB); keep the numbers stable. */
export const PIN_REASONS = {
  LongStatement: { code: 1, text: 'statement text over 16 KB' },
  SessionSetting: { code: 2, text: 'SET or RESET of a session setting' },
  SetConfig: { code: 3, text: 'set_config() of a session setting' },
  SqlPrepare: { code: 4, text: 'SQL PREPARE, EXECUTE or DEALLOCATE' },
  Discard: { code: 5, text: 'DISCARD' },
  TemporaryObject: { code: 6, text: 'temporary table, view or sequence' },
  HoldCursor: { code: 7, text: 'cursor declared WITH HOLD' },
  Listen: { code: 8, text: 'LISTEN' },
  Load: { code: 9, text: 'LOAD' },
  Sequence: { code: 10, text: 'nextval() or setval()' },
  AdvisoryLock: { code: 11, text: 'session-level advisory lock' },
  DoBlock: { code: 12, text: 'DO block (its body is not checked)' },
  Unreadable: { code: 13, text: 'statement the proxy could not read' },
  DblinkConnection: { code: 14, text: 'dblink connection' },
  FunctionCall: { code: 15, text: 'FunctionCall (fastpath) message: the function is not known' },
  RandomSeed: { code: 16, text: 'setseed(): the session\'s random() sequence' },
} as const;

export type PinReason = keyof typeof PIN_REASONS;

const BY_CODE = new Map<number, PinReason>(Object.entries(PIN_REASONS).map(([k, v]) => [v.code, k as PinReason]));

/** The reason for a code the native side reports. */
export function pinReasonOf(code: number): PinReason | undefined {
  return BY_CODE.get(code);
}

/** Flags of the native filter's words (pg_scan.c): anywhere, or only as a statement's first word. */
const ANYWHERE = 1;
const INITIAL = 2;

const INITIAL_WORDS = ['set', 'reset', 'prepare', 'execute', 'deallocate', 'discard', 'declare', 'listen', 'load', 'do'] as const;
const FUNCTIONS: Readonly<Record<string, PinReason>> = {
  set_config: 'SetConfig',
  nextval: 'Sequence',
  setval: 'Sequence',
  pg_advisory_lock: 'AdvisoryLock',
  pg_advisory_lock_shared: 'AdvisoryLock',
  pg_try_advisory_lock: 'AdvisoryLock',
  pg_try_advisory_lock_shared: 'AdvisoryLock',
  dblink_connect: 'DblinkConnection',
  dblink_connect_u: 'DblinkConnection',
  // random() draws from a per-backend sequence: another client's setseed() would decide this one's numbers.
  setseed: 'RandomSeed',
};
const TEMP_WORDS = ['temp', 'temporary', 'pg_temp'] as const;
/** `UPDATE pg_settings SET setting = …` is a SET. */
const ANYWHERE_WORDS = [...TEMP_WORDS, 'pg_settings'] as const;

/** What the native filter looks for: every word that can start a rule below. */
export const PG_FILTER_WORDS: ReadonlyArray<readonly [string, number]> = [
  ...INITIAL_WORDS.map((w) => [w, INITIAL] as const),
  ...Object.keys(FUNCTIONS).map((w) => [w, ANYWHERE] as const),
  ...ANYWHERE_WORDS.map((w) => [w, ANYWHERE] as const),
];

interface Token {
  /** 'w' word (lowercased unless quoted), 'p' punctuation, 's' string or number */
  readonly t: 'w' | 'p' | 's';
  readonly v: string;
  readonly quoted?: boolean;
}

class Unreadable extends Error {}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * Tokens of PostgreSQL text. `backslashEscapes` decides what a backslash
 * does inside a plain '…' string (standard_conforming_strings off), which
 * the proxy cannot see: callers lex both ways.
 */
function lex(sql: string, backslashEscapes: boolean): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (ch === '/' && sql[i + 1] === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else i++;
      }
      if (depth > 0) throw new Unreadable('unterminated comment');
    } else if ((ch === 'U' || ch === 'u') && sql[i + 1] === '&' && (sql[i + 2] === '"' || sql[i + 2] === "'")) {
      // Unicode escapes (U&"set\005Fconfig") are not decoded here: what they spell is not known.
      throw new Unreadable('unicode-escaped identifier or string');
    } else if (ch === "'") {
      const escaped = backslashEscapes || (i > 0 && /[Ee]/.test(sql[i - 1]!) && (i < 2 || !IDENT.test(sql[i - 2]!)));
      i++;
      for (;;) {
        if (i >= n) throw new Unreadable('unterminated string');
        if (sql[i] === '\\' && escaped) i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
      out.push({ t: 's', v: '' });
    } else if (ch === '$' && /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64))![0];
      const end = sql.indexOf(tag, i + tag.length);
      if (end < 0) throw new Unreadable('unterminated dollar-quoted string');
      i = end + tag.length;
      out.push({ t: 's', v: '' });
    } else if (ch === '"') {
      let j = i + 1;
      let v = '';
      for (;;) {
        if (j >= n) throw new Unreadable('unterminated quoted identifier');
        if (sql[j] === '"' && sql[j + 1] === '"') {
          v += '"';
          j += 2;
        } else if (sql[j] === '"') break;
        else v += sql[j++];
      }
      i = j + 1;
      out.push({ t: 'w', v, quoted: true });
    } else if (IDENT_START.test(ch)) {
      let j = i;
      while (j < n && IDENT.test(sql[j]!)) j++;
      out.push({ t: 'w', v: sql.slice(i, j).toLowerCase() });
      i = j;
    } else if (/[0-9]/.test(ch)) {
      while (i < n && /[0-9.eE]/.test(sql[i]!)) i++;
      out.push({ t: 's', v: '' });
    } else {
      out.push({ t: 'p', v: ch });
      i++;
    }
  }
  return out;
}

/** Statements (top-level `;` splits them). */
function statements(tokens: Token[]): Token[][] {
  const out: Token[][] = [[]];
  for (const tok of tokens) {
    if (tok.t === 'p' && tok.v === ';') out.push([]);
    else out[out.length - 1]!.push(tok);
  }
  return out.filter((s) => s.length > 0);
}

const word = (tok: Token | undefined, v: string): boolean => tok !== undefined && tok.t === 'w' && !tok.quoted && tok.v === v;

/** set_config(name, value, is_local): only a literal `true` as the third argument is transaction-local. */
function setConfigIsLocal(tokens: Token[], at: number, text: string): boolean {
  void text;
  if (!(tokens[at + 1]?.t === 'p' && tokens[at + 1]!.v === '(')) return false;
  let depth = 0;
  let commas = 0;
  const third: Token[] = [];
  for (let i = at + 1; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.t === 'p' && tok.v === '(') depth++;
    else if (tok.t === 'p' && tok.v === ')') {
      depth--;
      if (depth === 0) break;
    } else if (depth === 1 && tok.t === 'p' && tok.v === ',') {
      commas++;
      continue;
    }
    if (depth >= 1 && commas === 2 && !(tok.t === 'p' && tok.v === '(' && depth === 1)) third.push(tok);
  }
  return third.length === 1 && word(third[0], 'true');
}

function classifyStatement(st: Token[], text: string): PinReason | undefined {
  const first = st[0]!;
  if (!first.quoted && first.t === 'w') {
    switch (first.v) {
      case 'set': {
        const next = st[1];
        // Transaction-scoped forms leave nothing behind once the transaction ends.
        if (word(next, 'local') || word(next, 'transaction') || word(next, 'constraints')) break;
        return 'SessionSetting';
      }
      case 'reset':
        return 'SessionSetting';
      case 'prepare':
        if (word(st[1], 'transaction')) break; // two-phase commit: not session state
        return 'SqlPrepare';
      case 'execute':
      case 'deallocate':
        return 'SqlPrepare';
      case 'discard':
        return 'Discard';
      case 'declare':
        if (st.some((tok, i) => word(tok, 'with') && word(st[i + 1], 'hold'))) return 'HoldCursor';
        break;
      case 'listen':
        return 'Listen';
      case 'load':
        return 'Load';
      case 'do':
        return 'DoBlock';
    }
  }
  for (let i = 0; i < st.length; i++) {
    const tok = st[i]!;
    if (tok.t !== 'w') continue;
    const fn = FUNCTIONS[tok.v];
    if (fn !== undefined) {
      if (fn === 'SetConfig' && setConfigIsLocal(st, i, text)) continue;
      return fn;
    }
    if (tok.v === 'pg_temp') return 'TemporaryObject';
    if (tok.v === 'pg_settings' && word(first, 'update')) return 'SessionSetting';
    if (!tok.quoted && (tok.v === 'temp' || tok.v === 'temporary')) {
      // CREATE [GLOBAL|LOCAL] TEMP …, SELECT … INTO TEMP …: not a column that happens to be named temp.
      const prev = st[i - 1];
      if (word(first, 'create') || word(prev, 'into') || word(prev, 'local') || word(prev, 'global')) return 'TemporaryObject';
    }
  }
  return undefined;
}

function classifyWith(text: string, backslashEscapes: boolean): PinReason | undefined {
  for (const st of statements(lex(text, backslashEscapes))) {
    const reason = classifyStatement(st, text);
    if (reason !== undefined) return reason;
  }
  return undefined;
}

/**
 * The pin reason for a statement's text, or undefined when it leaves no
 * session state. Both readings of a backslash are tried; either one finding
 * a reason pins.
 */
export function classifyPostgres(text: string): PinReason | undefined {
  try {
    return classifyWith(text, false) ?? (text.includes('\\') ? classifyWith(text, true) : undefined);
  } catch (err) {
    if (err instanceof Unreadable) return 'Unreadable';
    throw err;
  }
}
