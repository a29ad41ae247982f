import { describe, expect, it } from 'vitest';
import { ContextLookup } from '../context.js';
import { conditionOperators, evaluateCondition, parseOperatorName } from './index.js';
import { inBlock, parseAddress, parseBlock } from './ip.js';
import { readDate } from './date.js';

describe('condition operator table', () => {
  it('knows every AWS family, each with IfExists and set qualifiers', () => {
    const names = [...conditionOperators.keys()];
    expect(names).toHaveLength(6 + 6 + 6 + 1 + 1 + 2 + 4);
    for (const n of names) {
      expect(parseOperatorName(`${n}IfExists`)).toEqual({ base: n, ifExists: true });
      expect(parseOperatorName(`ForAllValues:${n}`)).toEqual({ qualifier: 'ForAllValues', base: n, ifExists: false });
    }
    expect(parseOperatorName('Null')).toEqual({ base: 'Null', ifExists: false });
    expect(parseOperatorName('NullIfExists')).toBeUndefined();
    expect(parseOperatorName('stringequals')).toBeUndefined();
    expect(parseOperatorName('ForAnyValue:ForAllValues:StringEquals')).toBeUndefined();
  });

  it('explains its results', () => {
    const ctx = new ContextLookup({ 'aws:username': 'alice' });
    const r = evaluateCondition({ operator: 'StringEquals', key: 'aws:username', values: ['bob'] }, ctx, true);
    expect(r).toMatchObject({ match: false, operator: 'StringEquals', key: 'aws:username' });
    expect(r.explanation).toContain('"alice" matches no policy value');
  });
});

describe('IP parsing', () => {
  it('refuses malformed addresses and prefixes', () => {
    for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '256.0.0.1', '::1::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'g::1', '']) {
      expect(parseAddress(bad), bad).toBeUndefined();
    }
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8']) expect(parseBlock(bad), bad).toBeUndefined();
  });

  it('matches CIDR edges exactly', () => {
    const block = parseBlock('192.0.2.128/25')!;
    expect(inBlock(parseAddress('192.0.2.128')!, block)).toBe(true);
    expect(inBlock(parseAddress('192.0.2.255')!, block)).toBe(true);
    expect(inBlock(parseAddress('192.0.2.127')!, block)).toBe(false);
    const v6 = parseBlock('2001:db8::/48')!;
    expect(inBlock(parseAddress('2001:db8:0:ffff:ffff:ffff:ffff:ffff')!, v6)).toBe(true);
    expect(inBlock(parseAddress('2001:db8:1::')!, v6)).toBe(false);
    expect(inBlock(parseAddress('::ffff:10.0.0.1')!, parseBlock('10.0.0.0/8')!)).toBe(true);
  });
});

describe('date parsing', () => {
  it('reads ISO 8601 and epoch seconds', () => {
    expect(readDate('2020-01-01')).toBe(Date.UTC(2020, 0, 1));
    expect(readDate('2020-01-01T00:00:00Z')).toBe(Date.UTC(2020, 0, 1));
    expect(readDate('2020-01-01T02:00:00+0200')).toBe(Date.UTC(2020, 0, 1));
    expect(readDate('1577836800')).toBe(Date.UTC(2020, 0, 1));
    expect(readDate('Jan 1 2020')).toBeUndefined();
  });
});
