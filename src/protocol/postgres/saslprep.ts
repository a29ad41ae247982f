/**
 * A practical SASLprep (RFC 4013) for SCRAM passwords, matching what
 * PostgreSQL's own `pg_saslprep` does in the common cases:
 *
 * - ASCII passwords pass unchanged (the fast path, and by far the common one);
 * - non-ASCII spaces map to U+0020, "commonly mapped to nothing" characters
 *   (soft hyphen, zero-width joiners, variation selectors...) are dropped,
 *   then the result is NFKC-normalised;
 * - when the result holds a prohibited character (controls, private use,
 *   surrogates, non-characters) the password is used exactly as given, as
 *   PostgreSQL does, so both ends still agree.
 *
 * Not implemented: the RFC 3454 bidirectional check and the full unassigned
 * code point table. PostgreSQL falls back to the raw password in those cases
 * too, so the only mismatch would be a password mixing right-to-left and
 * left-to-right scripts that PostgreSQL rejects and we normalise; such a
 * login fails closed (bad proof), never open.
 *
 * @see https://www.rfc-editor.org/rfc/rfc4013
 * @module
 */

// RFC 3454 C.1.2 non-ASCII space characters.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/g;
// RFC 3454 B.1 commonly mapped to nothing.
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200C\u200D\u2060\uFE00-\uFE0F\uFEFF]/g;
// A practical subset of RFC 3454 C.2-C.9: controls, private use, lone
// surrogates, non-characters, change-display and tagging characters.
const PROHIBITED =
  /[\u0000-\u001F\u007F-\u009F\u06DD\u070F\u180E\u200E\u200F\u2028-\u202E\u206A-\u206F\uD800-\uDFFF\uE000-\uF8FF\uFFF9-\uFFFF]|[\u{F0000}-\u{10FFFF}]|[\u{E0001}\u{E0020}-\u{E007F}]/u;

/** True when every code unit is printable ASCII or a plain ASCII control. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * Prepares a password for SCRAM. Never throws: an unpreparable password is
 * returned as is, like PostgreSQL.
 *
 * @example
 *   saslprep('I\u00ADX'); // 'IX'
 */
export function saslprep(password: string): string {
  if (isAscii(password)) return password;
  const mapped = password.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '').normalize('NFKC');
  if (mapped === '' || PROHIBITED.test(mapped)) return password;
  return mapped;
}
