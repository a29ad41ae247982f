import { describe, expect, it } from 'vitest';
import { formatAmzDate, parseAmzDate } from './amz-date.js';

describe('formatAmzDate', () => {
  it('writes YYYYMMDDTHHMMSSZ in UTC and drops milliseconds', () => {
    expect(formatAmzDate(new Date('2016-11-07T17:39:33.999Z'))).toBe('20161107T173933Z');
    expect(formatAmzDate(new Date('2015-08-30T12:36:00Z'))).toBe('20150830T123600Z');
  });
});

describe('parseAmzDate', () => {
  it('reads a valid time to epoch milliseconds', () => {
    expect(parseAmzDate('20161107T173933Z')).toBe(Date.UTC(2016, 10, 7, 17, 39, 33));
    expect(parseAmzDate('20240229T235959Z')).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
  });

  it.each([
    ['20230230T000000Z', 'a day that does not exist'],
    ['20230229T000000Z', '29 February of a common year'],
    ['20231301T000000Z', 'month 13'],
    ['20230001T000000Z', 'month 0'],
    ['20230100T000000Z', 'day 0'],
    ['20230101T240000Z', 'hour 24'],
    ['20230101T006000Z', 'minute 60'],
    ['20230101T000060Z', 'a leap second'],
    ['20230101T000000', 'no Z'],
    ['20230101 000000Z', 'a space for T'],
    ['2023-01-01T00:00:00Z', 'the extended ISO form'],
    ['20230101T000000z', 'a lowercase z'],
    ['+20230101T00000Z', 'a sign'],
    ['', 'nothing'],
  ])('rejects %s (%s)', (text) => {
    expect(parseAmzDate(text)).toBeUndefined();
  });
});
