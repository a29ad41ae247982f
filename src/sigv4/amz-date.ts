/**
 * The compact ISO 8601 basic form SigV4 uses, `YYYYMMDDTHHMMSSZ` in UTC.
 * Milliseconds are dropped (truncated), as every SDK does.
 *
 * @example formatAmzDate(new Date('2016-11-07T17:39:33Z')) === '20161107T173933Z'
 */
export function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Reads a `YYYYMMDDTHHMMSSZ` time strictly: the digits must name a real
 * calendar instant (no 30 February, no hour 24, no leap second), because
 * Date.UTC would otherwise roll `20230230` over into March. Returns epoch
 * milliseconds, or undefined when the text is not such a time.
 *
 * @example parseAmzDate('20161107T173933Z') === Date.UTC(2016, 10, 7, 17, 39, 33)
 */
export function parseAmzDate(text: string): number | undefined {
  const m = AMZ_DATE.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  // Reject days that do not exist in that month: Date.UTC normalises them.
  if (new Date(ms).getUTCDate() !== day) return undefined;
  return ms;
}
