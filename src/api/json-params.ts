/**
 * Readers for JSON 1.1 request members (KMS, Secrets Manager) with AWS's
 * validation texts. Members arrive as parsed JSON of any shape; each reader
 * checks the type it needs and names the member the way AWS does
 * (lower camel case) when it refuses one.
 */
import { IamdbError } from '../errors/index.js';

type Body = Readonly<Record<string, unknown>>;

const field = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1);

function invalid(name: string, constraint: string): IamdbError {
  return new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value at '${field(name)}' failed to satisfy constraint: ${constraint}` });
}

export function optionalString(body: Body, name: string, maxLength = 65536): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(name, 'Member must be a string');
  if (v.length > maxLength) throw invalid(name, `Member must have length less than or equal to ${maxLength}`);
  return v;
}

export function requiredString(body: Body, name: string, maxLength?: number): string {
  const v = optionalString(body, name, maxLength);
  if (v === undefined || v === '') {
    throw new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value null at '${field(name)}' failed to satisfy constraint: Member must not be null` });
  }
  return v;
}

export function int(body: Body, name: string, range: { min?: number; max?: number } = {}): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(name, 'Member must be an integer');
  if (range.min !== undefined && v < range.min) throw invalid(name, `Member must have value greater than or equal to ${range.min}`);
  if (range.max !== undefined && v > range.max) throw invalid(name, `Member must have value less than or equal to ${range.max}`);
  return v;
}

export function bool(body: Body, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(name, 'Member must be a boolean');
  return v;
}

/** A base64 blob member, decoded. */
export function blob(body: Body, name: string, maxBytes = 65536): Buffer {
  const v = body[name];
  if (typeof v !== 'string' || v === '') {
    throw new IamdbError('API_VALIDATION', { message: `1 validation error detected: Value null at '${field(name)}' failed to satisfy constraint: Member must not be null` });
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length > Math.ceil(maxBytes / 3) * 4) throw invalid(name, `Member must be base64 of at most ${maxBytes} bytes`);
  return Buffer.from(v, 'base64');
}

/** A map of strings (EncryptionContext). */
export function stringMap(body: Body, name: string): Record<string, string> {
  const v = body[name];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(name, 'Member must be a map of strings');
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string') throw invalid(name, 'Member must be a map of strings');
    out[k] = x;
  }
  return out;
}

/** A list of `{keyName, valueName}` objects as a record (KMS: TagKey/TagValue; Secrets Manager: Key/Value). */
export function tagList(body: Body, name: string, keyName: string, valueName: string): Record<string, string> | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > 50) throw invalid(name, 'Member must be a list of at most 50 tags');
  const out: Record<string, string> = {};
  for (const item of v as unknown[]) {
    const t = item as Record<string, unknown> | null;
    if (t === null || typeof t !== 'object' || typeof t[keyName] !== 'string' || (t[valueName] !== undefined && typeof t[valueName] !== 'string')) {
      throw invalid(name, `Member must be a list of {${keyName}, ${valueName}}`);
    }
    out[t[keyName] as string] = (t[valueName] as string | undefined) ?? '';
  }
  return out;
}

/** A list of strings. */
export function stringList(body: Body, name: string): string[] | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(name, 'Member must be a list of strings');
  return v as string[];
}
