/**
 * Where each statement of a policy document sits in its JSON text, for the
 * policy simulator's MatchedStatements (StartPosition / EndPosition). Lines
 * and columns count from 1, as AWS's Position type does; a tab or any other
 * character is one column, CR LF and a lone CR end a line as LF does. The
 * start is the statement's opening brace, the end its closing brace.
 *
 * A tiny JSON reader of its own: JSON.parse keeps no positions. It only
 * locates; the document was validated by the policy parser before.
 */

export interface TextPosition {
  readonly line: number;
  readonly column: number;
}

export interface StatementSpan {
  readonly start: TextPosition;
  readonly end: TextPosition;
}

interface Span {
  readonly from: number;
  /** Offset of the value's last character. */
  readonly to: number;
}

class Reader {
  i = 0;
  constructor(readonly text: string) {}

  fail(): never {
    throw new SyntaxError(`unreadable JSON at offset ${this.i}`);
  }

  skipSpace(): void {
    while (this.i < this.text.length && ' \t\r\n'.includes(this.text[this.i]!)) this.i++;
  }

  expect(c: string): void {
    this.skipSpace();
    if (this.text[this.i] !== c) this.fail();
    this.i++;
  }

  /** Reads a string token; returns its decoded value. */
  string(): string {
    this.skipSpace();
    const start = this.i;
    if (this.text[this.i] !== '"') this.fail();
    this.i++;
    while (this.i < this.text.length && this.text[this.i] !== '"') this.i += this.text[this.i] === '\\' ? 2 : 1;
    if (this.i >= this.text.length) this.fail();
    this.i++;
    return JSON.parse(this.text.slice(start, this.i)) as string;
  }

  /** Skips any value; returns its span. Objects report their members when `members` is given. */
  value(members?: Map<string, Span>, elements?: Span[]): Span {
    this.skipSpace();
    const from = this.i;
    const c = this.text[this.i];
    if (c === '{') {
      this.i++;
      this.skipSpace();
      if (this.text[this.i] === '}') return { from, to: this.i++ };
      for (;;) {
        const key = this.string();
        this.expect(':');
        const span = this.value();
        members?.set(key, span); // the last of duplicate keys wins, as in JSON.parse
        this.skipSpace();
        const next = this.text[this.i++];
        if (next === '}') return { from, to: this.i - 1 };
        if (next !== ',') this.fail();
      }
    }
    if (c === '[') {
      this.i++;
      this.skipSpace();
      if (this.text[this.i] === ']') return { from, to: this.i++ };
      for (;;) {
        const span = this.value(); // read even when nobody collects it (`?.` would skip the call)
        elements?.push(span);
        this.skipSpace();
        const next = this.text[this.i++];
        if (next === ']') return { from, to: this.i - 1 };
        if (next !== ',') this.fail();
      }
    }
    if (c === '"') {
      this.string();
      return { from, to: this.i - 1 };
    }
    while (this.i < this.text.length && /[-+.\w]/.test(this.text[this.i]!)) this.i++;
    if (this.i === from) this.fail();
    return { from, to: this.i - 1 };
  }
}

/** Line starts of `text`, for offset → line/column. */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) starts.push(i + 1);
  }
  return starts;
}

function positionOf(starts: readonly number[], offset: number): TextPosition {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, column: offset - starts[lo]! + 1 };
}

/**
 * The span of each statement, in document order (index = `Statement.index`),
 * or `undefined` when the text is not a JSON object with a Statement member.
 *
 * @example
 *   statementPositions('{"Statement":[{"Effect":"Allow"}]}')
 *   // [{ start: { line: 1, column: 15 }, end: { line: 1, column: 32 } }]
 */
export function statementPositions(text: string): StatementSpan[] | undefined {
  const reader = new Reader(text);
  const members = new Map<string, Span>();
  try {
    reader.skipSpace();
    if (text[reader.i] !== '{') return undefined;
    reader.value(members);
    const st = members.get('Statement');
    if (st === undefined) return undefined;
    let spans: Span[];
    if (text[st.from] === '[') {
      spans = [];
      const again = new Reader(text);
      again.i = st.from;
      again.value(undefined, spans);
    } else {
      spans = [st];
    }
    const starts = lineStarts(text);
    return spans.map((s) => ({ start: positionOf(starts, s.from), end: positionOf(starts, s.to) }));
  } catch {
    return undefined;
  }
}
