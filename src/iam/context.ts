/**
 * Request context: condition keys and their values. AWS compares key names
 * case-insensitively, so lookups go through a lower-cased map built once per
 * request.
 */

/** One context value as callers may pass it. */
export type ContextScalar = string | number | boolean | Date | Uint8Array;
/** A context value: a scalar, a multi-valued key (array), or absent. */
export type ContextValue = ContextScalar | readonly ContextScalar[] | null | undefined;
/** Condition keys to values, e.g. `{ 'aws:SourceIp': '203.0.113.9', 'aws:MultiFactorAuthPresent': true }`. */
export type RequestContext = Readonly<Record<string, ContextValue>>;

/** Case-insensitive view of a request context whose values are strings. */
export class ContextLookup {
  readonly #values = new Map<string, readonly string[]>();

  constructor(...layers: RequestContext[]) {
    // Later layers win: the evaluator puts principal-derived keys last so a
    // caller-supplied context cannot impersonate the principal.
    for (const layer of layers) {
      for (const key of Object.keys(layer)) {
        const value = layer[key];
        const lower = key.toLowerCase();
        if (value === undefined || value === null) {
          this.#values.delete(lower);
          continue;
        }
        const list = Array.isArray(value) ? (value as readonly ContextScalar[]) : [value as ContextScalar];
        this.#values.set(lower, list.map(scalarToString));
      }
    }
  }

  /** The values of `key`, or `undefined` when absent. An empty list is a present, empty set. */
  get(key: string): readonly string[] | undefined {
    return this.#values.get(key.toLowerCase());
  }
}

/** How AWS renders non-string values: booleans and numbers as text, dates as ISO 8601, bytes as base64. */
export function scalarToString(value: ContextScalar): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
}
