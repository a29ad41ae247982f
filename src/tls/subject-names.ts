/**
 * Names a server certificate covers, checked and put in one canonical form so
 * the same endpoint always maps to the same cached certificate.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { IamdbError } from '../errors/index.js';

/** Canonical SANs: DNS names lower-cased, IPs in full form, both sorted and unique. */
export interface SubjectNames {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Validates and canonicalises the requested names; throws
 * TLS_CERT_REQUEST_INVALID listing every bad one.
 *
 * @example normaliseSubjectNames(['LocalHost.'], ['::1']) // { dnsNames: ['localhost'], ipAddresses: ['0:0:0:0:0:0:0:1'] }
 */
export function normaliseSubjectNames(dnsNames: readonly string[], ipAddresses: readonly string[]): SubjectNames {
  const problems: string[] = [];
  const dns = new Set<string>();
  for (const raw of dnsNames) {
    const name = raw.trim().toLowerCase().replace(/\.$/, '');
    if (isDnsName(name)) dns.add(name);
    else problems.push(`"${raw}" is not a DNS name`);
  }
  const ips = new Set<string>();
  for (const raw of ipAddresses) {
    const ip = canonicalIp(raw.trim());
    if (ip === undefined) problems.push(`"${raw}" is not an IPv4 or IPv6 address`);
    else ips.add(ip);
  }
  if (problems.length === 0 && dns.size + ips.size === 0) problems.push('give at least one DNS name or IP address');
  if (problems.length > 0) throw new IamdbError('TLS_CERT_REQUEST_INVALID', { reason: problems.join('; ') });
  return { dnsNames: [...dns].sort(), ipAddresses: [...ips].sort() };
}

/** Host names, plus one leading `*` label for wildcard certificates. */
function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((label, i) => (i === 0 && label === '*' && labels.length > 1) || LABEL.test(label));
}

/**
 * IPv4 as dotted quad; IPv6 as eight unabbreviated groups, with an embedded
 * IPv4 tail turned into hex, so every spelling of one address is one string
 * (and the x509 library never has to parse `::` or dotted tails).
 */
export function canonicalIp(ip: string): string | undefined {
  if (isIPv4(ip)) return ip.split('.').map((p) => String(Number(p))).join('.');
  if (!isIPv6(ip) || ip.includes('%')) return undefined;
  let text = ip.toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  const groups = [...left, ...fill, ...right];
  if (groups.length !== 8) return undefined;
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}
