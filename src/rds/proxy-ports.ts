/**
 * Where proxy endpoints listen. AWS gives every proxy endpoint its own DNS
 * name on 5432/3306; iamdb, on one host, gives each endpoint a port: the next
 * free one of the operator's range (`proxy.ports`), or the address a create
 * request asks for with the `iamdb:listen` tag. Free means: no other proxy
 * endpoint and no instance endpoint has it, and it can be bound now (the
 * probe, supplied by the caller, is the only part that touches sockets).
 */
import { IamdbError } from '../errors/index.js';
import type { HostPort } from './instance-registry.js';

export interface PortRange {
  readonly first: number;
  readonly last: number;
}

export interface ProxyListenSettings {
  /** The host proxy endpoints listen on unless a create asks for another. */
  readonly host: string;
  readonly ports: PortRange;
  /** Other host names clients reach that host by (and may sign tokens for). */
  readonly aliases: readonly string[];
}

/** Can `address` be bound right now? (Listen and close; the registry itself never opens sockets.) */
export type BindProbe = (address: HostPort) => Promise<boolean>;

/** `7600-7699` or a single port `5432`. */
export function parsePortRange(value: string): PortRange {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(value.trim());
  const first = m === null ? NaN : Number(m[1]);
  const last = m === null ? NaN : Number(m[2] ?? m[1]);
  if (!(first >= 1 && last <= 65535 && first <= last)) throw new Error(`not a port range: ${value}`);
  return { first, last };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** Two listen addresses collide when their ports match and their hosts match or either is a wildcard. */
export function addressesCollide(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port) return false;
  return WILDCARDS.has(a.host) || WILDCARDS.has(b.host) || a.host.toLowerCase() === b.host.toLowerCase();
}

export function formatHostPort(a: HostPort): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/**
 * The address for a new endpoint: `asked` when given and free, else the first free port of the
 * range on the configured host. `taken` are the addresses other endpoints already have.
 */
export async function allocateListenAddress(
  settings: ProxyListenSettings,
  taken: readonly HostPort[],
  probe: BindProbe,
  asked?: HostPort,
): Promise<HostPort> {
  const free = (a: HostPort): boolean => !taken.some((t) => addressesCollide(t, a));
  if (asked !== undefined) {
    if (!free(asked) || !(await probe(asked))) {
      throw new IamdbError('RDS_INVALID_PARAMETER', { message: `The address ${formatHostPort(asked)} of the iamdb:listen tag is already in use.` });
    }
    return asked;
  }
  for (let port = settings.ports.first; port <= settings.ports.last; port++) {
    const candidate = { host: settings.host, port };
    if (free(candidate) && (await probe(candidate))) return candidate;
  }
  throw new IamdbError('RDS_INVALID_PARAMETER', {
    message: `No free port in proxy.ports ${settings.ports.first}-${settings.ports.last} on ${settings.host}; widen the range or ask for an address with the iamdb:listen tag.`,
  });
}
