/**
 * Parameters of a Query-protocol request (IAM, STS, RDS): the form-encoded
 * body (and URL query) flattened the way the SDKs serialise structures,
 * lists and maps: `Tags.member.1.Key`, `TagKeys.member.2`, `Tags.Tag.1.Value`,
 * `ContextEntries.member.1.ContextKeyValues.member.1`. Readers return typed
 * values and throw AWS's validation errors.
 */
import { IamdbError } from '../errors/index.js';
import { missingParameter } from './aws-errors.js';

/** Most parameters one request may carry; more is refused before anything is built. */
export const MAX_QUERY_PARAMETERS = 2000;

export class QueryParams {
  readonly #values: ReadonlyMap<string, string>;

  constructor(values: ReadonlyMap<string, string>) {
    this.#values = values;
  }

  /** Parses `a=1&b=2` bodies; later duplicates win, as AWS's front ends do. */
  static parse(...sources: string[]): QueryParams {
    const values = new Map<string, string>();
    for (const source of sources) {
      const params = new URLSearchParams(source);
      for (const [k, v] of params) {
        values.set(k, v);
        if (values.size > MAX_QUERY_PARAMETERS) throw new IamdbError('API_MALFORMED_REQUEST', { message: `more than ${MAX_QUERY_PARAMETERS} parameters` });
      }
    }
    return new QueryParams(values);
  }

  get action(): string | undefined {
    return this.#values.get('Action');
  }

  get version(): string | undefined {
    return this.#values.get('Version');
  }

  /** Every parameter name, in arrival order. */
  names(): string[] {
    return [...this.#values.keys()];
  }

  has(name: string): boolean {
    return this.#values.has(name) || [...this.#values.keys()].some((k) => k.startsWith(`${name}.`));
  }

  str(name: string): string | undefined {
    return this.#values.get(name);
  }

  required(name: string): string {
    const v = this.#values.get(name);
    if (v === undefined) throw missingParameter(name);
    return v;
  }

  int(name: string, range?: { min?: number; max?: number }): number | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    const field = name.charAt(0).toLowerCase() + name.slice(1);
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) {
      throw new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value '${v.slice(0, 64)}' at '${field}' failed to satisfy constraint: Member must be a number` });
    }
    if (range?.min !== undefined && n < range.min) {
      throw new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value '${n}' at '${field}' failed to satisfy constraint: Member must have value greater than or equal to ${range.min}` });
    }
    if (range?.max !== undefined && n > range.max) {
      throw new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value '${n}' at '${field}' failed to satisfy constraint: Member must have value less than or equal to ${range.max}` });
    }
    return n;
  }

  bool(name: string): boolean | undefined {
    const v = this.#values.get(name);
    if (v === undefined) return undefined;
    if (v === 'true') return true;
    if (v === 'false') return false;
    throw new IamdbError('API_VALIDATION', { message: `Value '${v.slice(0, 64)}' for parameter ${name} is invalid. Expected true or false.` });
  }

  /**
   * The items of a flattened list `name.<itemName>.<n>…`, in index order, as
   * sub-parameter sets (`item.str('Key')`); `item.str('')` is a scalar item.
   * The item name is whatever the client used (`member`, `Tag`, …).
   */
  list(name: string): QueryParams[] {
    const prefix = `${name}.`;
    const items = new Map<number, Map<string, string>>();
    for (const [k, v] of this.#values) {
      if (!k.startsWith(prefix)) continue;
      const m = /^[A-Za-z]+\.(\d{1,4})(?:\.(.*))?$/.exec(k.slice(prefix.length));
      if (m === null) continue;
      const index = Number(m[1]);
      let item = items.get(index);
      if (item === undefined) items.set(index, (item = new Map()));
      item.set(m[2] ?? '', v);
    }
    return [...items.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => new QueryParams(v));
  }

  /** A list of strings (`TagKeys.member.1=a`). */
  strings(name: string): string[] {
    return this.list(name).map((p) => p.str('') ?? '');
  }

  /** `Tags.member.N.Key/Value` as a record, in order. */
  tags(name = 'Tags'): Record<string, string> {
    const out: Record<string, string> = {};
    for (const item of this.list(name)) {
      const key = item.str('Key');
      if (key === undefined) throw missingParameter(`${name}.member.Key`);
      out[key] = item.str('Value') ?? '';
    }
    return out;
  }
}
