import { describe, expect, it } from 'vitest';
import { members, renderXml, xmlEscape } from './xml.js';

describe('renderXml', () => {
  it('renders nested elements in order, lists with their item names, and skips absent values', () => {
    const xml = renderXml(
      'DescribeDBInstancesResponse',
      { DBInstances: members([{ DBInstanceIdentifier: 'a', TagList: members([{ Key: 'k', Value: 'v' }], 'Tag'), Missing: undefined }], 'DBInstance'), IsTruncated: false },
      'http://rds.amazonaws.com/doc/2014-10-31/',
    );
    expect(xml).toBe(
      '<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DBInstances><DBInstance><DBInstanceIdentifier>a</DBInstanceIdentifier><TagList><Tag><Key>k</Key><Value>v</Value></Tag></TagList></DBInstance></DBInstances><IsTruncated>false</IsTruncated></DescribeDBInstancesResponse>',
    );
  });

  it('escapes markup in text and dates print as AWS prints them', () => {
    expect(renderXml('A', { B: '<x> & "y"', C: new Date('2026-11-23T12:00:00.123Z') })).toBe('<A><B>&lt;x&gt; &amp; "y"</B><C>2026-11-23T12:00:00Z</C></A>');
    expect(xmlEscape('a"b\'c', true)).toBe('a&quot;b&apos;c');
  });

  it('renders an empty list as an empty element', () => {
    expect(renderXml('R', { Users: members([]) })).toBe('<R><Users></Users></R>');
  });
});
