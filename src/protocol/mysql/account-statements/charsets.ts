/**
 * Which client character sets the recognizer can read. It reads statement
 * text byte by byte as ASCII structure (quotes, backslashes, ';', comments),
 * which is right only when no multi-byte character holds a byte below 0x80.
 * big5, cp932, gbk, sjis and gb18030 break that: their second bytes include
 * 0x5C, so GBK's 0xBF 0x5C is one character to the server and a quote-escaping
 * backslash to a byte reader. The session must refuse such a client
 * character set, at login (the collation id of the HandshakeResponse41) and
 * when a statement sets it.
 *
 * The list is an allow-list: a name or id not known here is not
 * ASCII-transparent. swe7 is left out too: a 7-bit national set whose
 * bytes for [ \ ] { | } are letters (its collation ids are refused with the
 * others).
 *
 * @see https://dev.mysql.com/doc/refman/8.0/en/charset-connection.html#charset-connection-impermissible-client-charset
 * @see https://mariadb.com/kb/en/supported-character-sets-and-collations/
 */

/** Character sets in which every byte below 0x80 is that ASCII character on its own. */
const ASCII_TRANSPARENT = new Set([
  'armscii8', 'ascii', 'binary', 'cp1250', 'cp1251', 'cp1256', 'cp1257', 'cp850', 'cp852', 'cp866', 'dec8',
  'eucjpms', 'euckr', 'gb2312', 'geostd8', 'greek', 'hebrew', 'hp8', 'keybcs2', 'koi8r', 'koi8u', 'latin1',
  'latin2', 'latin5', 'latin7', 'macce', 'macroman', 'tis620', 'ujis', 'utf8', 'utf8mb3', 'utf8mb4',
]);

/**
 * The one-byte collation ids (what a HandshakeResponse41 carries) and their
 * character sets: MariaDB 10.11's `SELECT id, collation_name,
 * character_set_name FROM information_schema.COLLATIONS WHERE id < 256`
 * (checked against a real server by test/integration/mysql-account-statements.test.ts),
 * plus the ids MySQL 8.0 adds (76 utf8mb3_tolower_ci, 248-250 gb18030, 255
 * utf8mb4_0900_ai_ci; from its reference manual). Ranges are inclusive.
 */
const COLLATION_IDS: Readonly<Record<string, readonly (number | readonly [number, number])[]>> = {
  armscii8: [32, 64],
  ascii: [11, 65],
  big5: [1, 84],
  binary: [63],
  cp1250: [26, 34, 44, 66, 99],
  cp1251: [14, 23, [50, 52]],
  cp1256: [57, 67],
  cp1257: [29, 58, 59],
  cp850: [4, 80],
  cp852: [40, 81],
  cp866: [36, 68],
  cp932: [95, 96],
  dec8: [3, 69],
  eucjpms: [97, 98],
  euckr: [19, 85],
  gb18030: [[248, 250]], // MySQL 8 only
  gb2312: [24, 86],
  gbk: [28, 87],
  geostd8: [92, 93],
  greek: [25, 70],
  hebrew: [16, 71],
  hp8: [6, 72],
  keybcs2: [37, 73],
  koi8r: [7, 74],
  koi8u: [22, 75],
  latin1: [5, 8, 15, 31, [47, 49], 94],
  latin2: [2, 9, 21, 27, 77],
  latin5: [30, 78],
  latin7: [20, 41, 42, 79],
  macce: [38, 43],
  macroman: [39, 53],
  sjis: [13, 88],
  swe7: [10, 82],
  tis620: [18, 89],
  ucs2: [35, 90, [128, 151], 159],
  ujis: [12, 91],
  utf16: [54, 55, [101, 124]],
  utf16le: [56, 62],
  utf32: [60, 61, [160, 183]],
  utf8mb3: [33, 76, 83, [192, 215], 223], // 76: MySQL 8 only
  utf8mb4: [45, 46, [224, 247], 255], // 255: MySQL 8 only
};

const CHARSET_BY_ID = new Map<number, string>();
for (const [charset, ids] of Object.entries(COLLATION_IDS)) {
  for (const id of ids) {
    const [from, to] = typeof id === 'number' ? [id, id] : id;
    for (let i = from; i <= to; i++) CHARSET_BY_ID.set(i, charset);
  }
}

/**
 * True when the recognizer reads text in this character set correctly: a
 * known name (either case) whose multi-byte characters hold no ASCII byte.
 * False for big5, cp932, gbk, sjis, gb18030, swe7, ucs2/utf16/utf32 (which
 * the servers refuse as client character sets anyway), unknown names and
 * undefined (a value that is not a plain name).
 *
 * @example isAsciiTransparentCharset('utf8mb4') // true; isAsciiTransparentCharset('GBK') // false
 */
export function isAsciiTransparentCharset(name: string | undefined): boolean {
  return name !== undefined && ASCII_TRANSPARENT.has(name.toLowerCase());
}

/**
 * The character set of a one-byte collation id on MariaDB 10.11 or MySQL 8.0,
 * or undefined for an id neither assigns (the server then falls back to its
 * own default character set).
 *
 * @example charsetOfCollationId(28) // 'gbk'
 */
export function charsetOfCollationId(id: number): string | undefined {
  return CHARSET_BY_ID.get(id);
}

/**
 * Whether a login's collation id (HandshakeResponse41 `character_set`) gives
 * a client character set the recognizer reads correctly. Unknown ids are
 * false: the server would use its default character set, which the gateway
 * does not know.
 *
 * @example isAsciiTransparentCollationId(45) // true (utf8mb4_general_ci); isAsciiTransparentCollationId(28) // false (gbk)
 */
export function isAsciiTransparentCollationId(id: number): boolean {
  return isAsciiTransparentCharset(CHARSET_BY_ID.get(id));
}

/**
 * The one-byte collation ids whose character set is not ASCII-transparent
 * on MariaDB 10.11 or MySQL 8.0: big5 1, 84; swe7 10, 82; sjis 13, 88; gbk
 * 28, 87; cp932 95, 96; gb18030 248-250 (MySQL 8). (ucs2, utf16, utf16le
 * and utf32 ids are not here: the servers refuse them as client character
 * sets.)
 */
export const NOT_ASCII_TRANSPARENT_COLLATION_IDS: readonly number[] = Object.freeze(
  [...CHARSET_BY_ID]
    .filter(([, charset]) => !ASCII_TRANSPARENT.has(charset) && !/^(ucs2|utf16|utf16le|utf32)$/.test(charset))
    .map(([id]) => id)
    .sort((a, b) => a - b),
);
