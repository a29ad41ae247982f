/**
 * Longest host part a token may carry: a 253-character DNS name plus a
 * trailing dot, or a bracketed IPv6 literal, fits.
 */
export const MAX_HOST_LENGTH = 255;

// Letters, digits, '-', '_' and '.': DNS names (underscore appears in some
// internal names) and IPv4 literals. Case is kept: the signature covers it.
const NAME = /^[A-Za-z0-9._-]+$/;
// A bracketed IPv6 literal, as in a URL authority.
const IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;

/**
 * Why `host` cannot be the host part of a token, or undefined when it can.
 * The check is syntactic only; whether the host is one of this listener's
 * endpoints is verify's job.
 *
 * @example hostSyntaxProblem('db.example.test') === undefined
 */
export function hostSyntaxProblem(host: string): string | undefined {
  if (host.length === 0) return 'empty';
  if (host.length > MAX_HOST_LENGTH) return `longer than ${MAX_HOST_LENGTH} characters`;
  if (host.startsWith('[')) return IPV6.test(host) ? undefined : 'not a valid bracketed IPv6 literal';
  if (!NAME.test(host)) return 'made of characters other than letters, digits, ".", "-" and "_"';
  return undefined;
}
