/**
 * Wildcard matching for actions, ARNs and `…Like` condition values.
 *
 * A pattern is cut at every `*` into segments; `?` stays inside a segment as a
 * one-character hole. The first segment is pinned to the start, the last to
 * the end, and each middle one is placed at its leftmost occurrence. Leftmost
 * placement is always safe for `*`-globs, so nothing is ever retried: there is
 * no backtracking and no regular expression (pattern text is never compiled
 * into one, so `.`, `(`, `+` and friends are literal). Literal segments are
 * found with KMP, so a pattern without `?` runs in O(|pattern| + |input|);
 * segments holding `?` use a direct scan, bounded by O(|input| × |segment|).
 */

/** A piece of a pattern: literal text, or a `*` / `?` wildcard. */
export type PatternPart = { readonly text: string } | { readonly wildcard: '*' | '?' };

/** A pattern ready to match; build with `compileGlob` or `compileParts`. */
export interface CompiledPattern {
  readonly ignoreCase: boolean;
  /** Segments between stars; `null` in `holes` marks a literal segment. */
  readonly segments: readonly Segment[];
  readonly hasStar: boolean;
}

interface Segment {
  readonly text: string;
  /** Positions holding `?`; empty for literal segments (which then use KMP). */
  readonly holes: readonly boolean[] | null;
  readonly failure: Int32Array | null;
}

/** Counts character comparisons so tests can bound the work done. */
export interface MatchCounter {
  ops: number;
}

/** Splits a raw glob: every `*` and `?` is a wildcard, everything else literal. */
export function globParts(pattern: string): PatternPart[] {
  const parts: PatternPart[] = [];
  let lit = '';
  for (const ch of pattern) {
    if (ch === '*' || ch === '?') {
      if (lit) parts.push({ text: lit });
      lit = '';
      parts.push({ wildcard: ch });
    } else {
      lit += ch;
    }
  }
  if (lit) parts.push({ text: lit });
  return parts;
}

/** Compiles a raw glob (`*`, `?` wildcards). */
export function compileGlob(pattern: string, ignoreCase = false): CompiledPattern {
  return compileParts(globParts(pattern), ignoreCase);
}

/** Compiles parts, e.g. from variable expansion where `${*}` yields a literal star. */
export function compileParts(parts: readonly PatternPart[], ignoreCase = false): CompiledPattern {
  const segments: Segment[] = [];
  let text = '';
  let holes: boolean[] = [];
  let anyHole = false;
  let hasStar = false;
  const close = (): void => {
    segments.push(makeSegment(text, anyHole ? holes : null));
    text = '';
    holes = [];
    anyHole = false;
  };
  for (const part of parts) {
    if ('text' in part) {
      const t = ignoreCase ? part.text.toLowerCase() : part.text;
      for (let i = 0; i < t.length; i++) holes.push(false);
      text += t;
    } else if (part.wildcard === '?') {
      text += '?';
      holes.push(true);
      anyHole = true;
    } else {
      hasStar = true;
      close();
    }
  }
  close();
  return { ignoreCase, segments, hasStar };
}

function makeSegment(text: string, holes: boolean[] | null): Segment {
  if (holes !== null || text.length === 0) return { text, holes, failure: null };
  // KMP failure table: failure[i] = length of the longest proper border of text[0..i].
  const failure = new Int32Array(text.length);
  let k = 0;
  for (let i = 1; i < text.length; i++) {
    while (k > 0 && text[i] !== text[k]) k = failure[k - 1]!;
    if (text[i] === text[k]) k++;
    failure[i] = k;
  }
  return { text, holes, failure };
}

function segmentAt(seg: Segment, input: string, at: number, counter?: MatchCounter): boolean {
  const { text, holes } = seg;
  if (at + text.length > input.length) return false;
  for (let j = 0; j < text.length; j++) {
    if (counter) counter.ops++;
    if (holes !== null && holes[j]) continue;
    if (input[at + j] !== text[j]) return false;
  }
  return true;
}

/** Leftmost start of `seg` in input[from, end), or -1. */
function findSegment(seg: Segment, input: string, from: number, end: number, counter?: MatchCounter): number {
  const m = seg.text.length;
  if (m === 0) return from;
  if (seg.failure !== null) {
    const { text, failure } = seg;
    let k = 0;
    for (let i = from; i < end; i++) {
      if (counter) counter.ops++;
      while (k > 0 && input[i] !== text[k]) {
        k = failure[k - 1]!;
        if (counter) counter.ops++;
      }
      if (input[i] === text[k]) k++;
      if (k === m) return i - m + 1;
    }
    return -1;
  }
  for (let i = from; i + m <= end; i++) {
    if (segmentAt(seg, input, i, counter)) return i;
  }
  return -1;
}

/** True when `input` matches the whole compiled pattern. */
export function matchPattern(pattern: CompiledPattern, rawInput: string, counter?: MatchCounter): boolean {
  const input = pattern.ignoreCase ? rawInput.toLowerCase() : rawInput;
  const segs = pattern.segments;
  const first = segs[0]!;
  if (!pattern.hasStar) return first.text.length === input.length && segmentAt(first, input, 0, counter);
  const last = segs[segs.length - 1]!;
  if (first.text.length + last.text.length > input.length) return false;
  if (!segmentAt(first, input, 0, counter)) return false;
  const tailStart = input.length - last.text.length;
  if (!segmentAt(last, input, tailStart, counter)) return false;
  let pos = first.text.length;
  for (let s = 1; s < segs.length - 1; s++) {
    const seg = segs[s]!;
    const at = findSegment(seg, input, pos, tailStart, counter);
    if (at < 0 || at + seg.text.length > tailStart) return false;
    pos = at + seg.text.length;
  }
  return true;
}

/** One-shot glob match: `*` any run, `?` one character, all else literal. */
export function globMatch(pattern: string, input: string, ignoreCase = false): boolean {
  return matchPattern(compileGlob(pattern, ignoreCase), input);
}

/**
 * An Action/NotAction list compiled for repeated use: patterns whose service
 * part (before the first `:`) is literal are filed under that service, the
 * rest are tried for every action. AWS managed policies such as
 * ReadOnlyAccess list thousands of actions; a request then meets only its
 * own service's few.
 */
interface ActionList {
  readonly byService: ReadonlyMap<string, readonly CompiledPattern[]>;
  readonly anyService: readonly CompiledPattern[];
}

// Keyed by the parsed statement's own array, which lives as long as its policy.
const actionLists = new WeakMap<readonly string[], ActionList>();

function compileActionList(patterns: readonly string[]): ActionList {
  const byService = new Map<string, CompiledPattern[]>();
  const anyService: CompiledPattern[] = [];
  for (const p of patterns) {
    const compiled = compileGlob(p, true);
    // Lower-cased as matchPattern compares, so the service cut lines up with the action's.
    const lower = p.toLowerCase();
    const colon = lower.indexOf(':');
    const service = colon < 0 ? '' : lower.slice(0, colon);
    if (colon < 0 || service.includes('*') || service.includes('?')) {
      anyService.push(compiled);
      continue;
    }
    const list = byService.get(service);
    if (list) list.push(compiled);
    else byService.set(service, [compiled]);
  }
  return { byService, anyService };
}

/**
 * True when `action` matches any pattern of an Action/NotAction list
 * (case-insensitively). The list is compiled on first use and kept while
 * the array lives, so pass the policy's own (unchanging) array.
 */
export function actionListMatches(patterns: readonly string[], action: string): boolean {
  let list = actionLists.get(patterns);
  if (!list) {
    list = compileActionList(patterns);
    actionLists.set(patterns, list);
  }
  const lower = action.toLowerCase();
  const colon = lower.indexOf(':');
  if (colon >= 0) {
    for (const c of list.byService.get(lower.slice(0, colon)) ?? []) if (matchPattern(c, lower)) return true;
  }
  for (const c of list.anyService) if (matchPattern(c, lower)) return true;
  return false;
}
