import { describe, expect, it } from 'vitest';
import {
  charsetOfCollationId,
  isAsciiTransparentCharset,
  isAsciiTransparentCollationId,
  NOT_ASCII_TRANSPARENT_COLLATION_IDS,
} from './charsets.js';

describe('client character sets', () => {
  it('knows the character sets whose second bytes may be ASCII, in any case', () => {
    for (const name of ['big5', 'cp932', 'gbk', 'sjis', 'gb18030', 'GBK', 'Sjis', 'swe7']) expect(isAsciiTransparentCharset(name), name).toBe(false);
    for (const name of ['utf8mb4', 'UTF8MB4', 'utf8', 'utf8mb3', 'latin1', 'ascii', 'binary', 'ujis', 'euckr', 'gb2312']) {
      expect(isAsciiTransparentCharset(name), name).toBe(true);
    }
  });

  it('takes anything it does not know for unsafe: aliases, padded names, collations, values that are not names', () => {
    for (const name of [undefined, '', 'utf8mb4 ', 'big-5', 'bigfive', 'gbk_chinese_ci', 'utf8mb4_general_ci', '28', 'ucs2', 'utf16', 'utf32']) {
      expect(isAsciiTransparentCharset(name), String(name)).toBe(false);
    }
  });

  it('maps the login collation ids of both servers, and refuses unknown ones', () => {
    expect(charsetOfCollationId(28)).toBe('gbk');
    expect(charsetOfCollationId(45)).toBe('utf8mb4');
    expect(charsetOfCollationId(255)).toBe('utf8mb4'); // MySQL 8's utf8mb4_0900_ai_ci
    expect(charsetOfCollationId(248)).toBe('gb18030'); // MySQL 8
    expect(charsetOfCollationId(0)).toBeUndefined();
    expect(charsetOfCollationId(251)).toBeUndefined();
    for (const id of [33, 45, 46, 63, 8, 224, 255]) expect(isAsciiTransparentCollationId(id), String(id)).toBe(true);
    for (const id of [0, 1, 13, 28, 84, 87, 88, 95, 96, 248, 249, 250, 251, 35]) expect(isAsciiTransparentCollationId(id), String(id)).toBe(false);
  });

  it('lists exactly the ids of big5, swe7, sjis, gbk, cp932 and gb18030', () => {
    expect(NOT_ASCII_TRANSPARENT_COLLATION_IDS).toEqual([1, 10, 13, 28, 82, 84, 87, 88, 95, 96, 248, 249, 250]);
    for (const id of NOT_ASCII_TRANSPARENT_COLLATION_IDS) expect(isAsciiTransparentCollationId(id)).toBe(false);
    expect(Object.isFrozen(NOT_ASCII_TRANSPARENT_COLLATION_IDS)).toBe(true);
  });
});
