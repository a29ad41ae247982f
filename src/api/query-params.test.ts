import { describe, expect, it } from 'vitest';
import { errorCodeOf as code } from '../../test/support/error-code.js';
import { QueryParams } from './query-params.js';

describe('QueryParams', () => {
  it('reads flattened lists and tags in index order, whatever the item name', () => {
    const q = QueryParams.parse('Action=TagUser&Tags.member.2.Key=b&Tags.member.2.Value=2&Tags.member.1.Key=a&Tags.member.1.Value=1', 'TagKeys.Tag.10=z&TagKeys.Tag.9=y');
    expect(q.action).toBe('TagUser');
    expect(q.tags()).toEqual({ a: '1', b: '2' });
    expect(Object.keys(q.tags())).toEqual(['a', 'b']);
    expect(q.strings('TagKeys')).toEqual(['y', 'z']);
    expect(q.list('ContextEntries')).toEqual([]);
  });

  it('types numbers and booleans with AWS validation errors', () => {
    const q = QueryParams.parse('DurationSeconds=900&Bad=12x&Big=99999&Flag=true&NotFlag=yes');
    expect(q.int('DurationSeconds', { min: 900 })).toBe(900);
    expect(code(() => q.int('Bad'))).toBe('API_VALIDATION');
    expect(code(() => q.int('Big', { max: 43200 }))).toBe('API_VALIDATION');
    expect(q.bool('Flag')).toBe(true);
    expect(code(() => q.bool('NotFlag'))).toBe('API_VALIDATION');
    expect(code(() => q.required('RoleArn'))).toBe('API_VALIDATION');
  });

  it('treats an empty list parameter as present', () => {
    const q = QueryParams.parse('PolicyInputList=');
    expect(q.has('PolicyInputList')).toBe(true);
    expect(q.strings('PolicyInputList')).toEqual([]);
  });

  it('refuses more parameters than it will hold', () => {
    const many = Array.from({ length: 2001 }, (_, i) => `p${i}=1`).join('&');
    expect(code(() => QueryParams.parse(many))).toBe('API_MALFORMED_REQUEST');
  });
});
