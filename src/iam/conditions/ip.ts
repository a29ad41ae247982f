/**
 * IpAddress / NotIpAddress over IPv4 and IPv6, single addresses or CIDR
 * blocks. Addresses become BigInts so one masking rule serves both families.
 * Families never match each other, except that an IPv4-mapped IPv6 context
 * address (`::ffff:192.0.2.1`) is read as the IPv4 address it carries.
 */
import { partsToText } from '../variables.js';
import { defineOperator, type ConditionOperator } from './types.js';

interface Address {
  readonly family: 4 | 6;
  readonly value: bigint;
}

interface Block extends Address {
  readonly prefix: number;
}

function parseIpv4(text: string): bigint | undefined {
  const octets = text.split('.');
  if (octets.length !== 4) return undefined;
  let v = 0n;
  for (const o of octets) {
    if (!/^\d{1,3}$/.test(o) || (o.length > 1 && o.startsWith('0'))) return undefined;
    const n = Number(o);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIpv6(text: string): bigint | undefined {
  let t = text;
  // Zone ids (fe80::1%eth0) name an interface, not an address; refuse them.
  if (t.includes('%')) return undefined;
  let tailV4: bigint | undefined;
  const lastColon = t.lastIndexOf(':');
  if (t.includes('.', lastColon)) {
    tailV4 = parseIpv4(t.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    t = `${t.slice(0, lastColon + 1)}0:0`;
  }
  const halves = t.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups = head.length + tail.length;
  if (halves.length === 1 ? groups !== 8 : groups > 7) return undefined;
  const all = [...head, ...Array<string>(8 - groups).fill('0'), ...tail];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

/** Parses one address; IPv4-mapped IPv6 becomes IPv4. */
export function parseAddress(text: string): Address | undefined {
  const t = text.trim();
  if (t.includes(':')) {
    const v = parseIpv6(t);
    if (v === undefined) return undefined;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  const v = parseIpv4(t);
  return v === undefined ? undefined : { family: 4, value: v };
}

/** Parses `addr` or `addr/prefix`; host bits beyond the prefix are ignored. */
export function parseBlock(text: string): Block | undefined {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash < 0 ? t : t.slice(0, slash);
  const family: 4 | 6 = addrText.includes(':') ? 6 : 4;
  const value = family === 4 ? parseIpv4(addrText) : parseIpv6(addrText);
  if (value === undefined) return undefined;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return undefined;
    prefix = Number(p);
  }
  return { family, value, prefix };
}

/** True when `address` lies inside `block`. */
export function inBlock(address: Address, block: Block): boolean {
  if (address.family !== block.family) return false;
  const bits = BigInt(block.family === 4 ? 32 : 128);
  const shift = bits - BigInt(block.prefix);
  return address.value >> shift === block.value >> shift;
}

const compare = (c: string, p: Parameters<typeof partsToText>[0]): boolean | undefined => {
  const address = parseAddress(c);
  const block = parseBlock(partsToText(p));
  return address === undefined || block === undefined ? undefined : inBlock(address, block);
};

export const ipOperators: readonly ConditionOperator[] = [
  defineOperator('IpAddress', 'IpAddress', compare),
  defineOperator('NotIpAddress', 'IpAddress', compare, true),
];
