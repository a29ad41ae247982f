/**
 * Caps on connections that have not authenticated yet, shared by every
 * endpoint of the process: a total, and one per source (an IPv4 address, or
 * an IPv6 /64, since anyone holding one IPv6 address usually holds the whole
 * /64). A client that has authenticated no longer counts; neither does one
 * that has gone.
 *
 * Why both: the total bounds what unauthenticated peers can make the process
 * hold (memory, descriptors); the per-source cap keeps one noisy source from
 * using up the total while everyone else's logins go on.
 *
 * Refusals are logged at most once per interval per cause, with how many
 * were refused since the last line, so a flood cannot flood the log too.
 */
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';

export interface PreAuthLimits {
  /** Unauthenticated connections at once, across every endpoint. */
  readonly maxConnections: number;
  /** Unauthenticated connections at once from one source address (IPv6: one /64). */
  readonly maxConnectionsPerSource: number;
}

/** A connection admitted before authentication; `release()` once it authenticates or ends (idempotent). */
export interface PreAuthTicket {
  release(): void;
}

export type PreAuthRefusal = 'total' | 'source';

/** How often a refusal cause may be logged. */
const LOG_INTERVAL_MS = 10_000;

/** The key a source is counted under: the IPv4 address, or the first four groups of an IPv6 address. */
export function sourceKey(remoteAddress: string | undefined): string {
  const addr = (remoteAddress ?? 'unknown').replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  if (!isIPv6(addr)) return addr;
  return `${expandIPv6(addr).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(addr: string): string[] {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

export class PreAuthLimiter {
  #total = 0;
  readonly #bySource = new Map<string, number>();
  readonly #refusedSince = { total: 0, source: 0 };
  readonly #lastLog = { total: 0, source: 0 };

  constructor(
    readonly limits: PreAuthLimits,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Unauthenticated connections now. */
  get count(): number {
    return this.#total;
  }

  /** Admits a new connection from `remoteAddress`, or says which cap refuses it. */
  admit(remoteAddress: string | undefined, endpoint: string): PreAuthTicket | PreAuthRefusal {
    const key = sourceKey(remoteAddress);
    const fromSource = this.#bySource.get(key) ?? 0;
    if (this.#total >= this.limits.maxConnections) return this.#refuse('total', key, endpoint);
    if (fromSource >= this.limits.maxConnectionsPerSource) return this.#refuse('source', key, endpoint);
    this.#total++;
    this.#bySource.set(key, fromSource + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#total--;
        const n = (this.#bySource.get(key) ?? 1) - 1;
        if (n <= 0) this.#bySource.delete(key);
        else this.#bySource.set(key, n);
      },
    };
  }

  #refuse(cause: PreAuthRefusal, source: string, endpoint: string): PreAuthRefusal {
    this.#refusedSince[cause]++;
    const now = this.now();
    if (now - this.#lastLog[cause] >= LOG_INTERVAL_MS) {
      this.#lastLog[cause] = now;
      const refused = this.#refusedSince[cause];
      this.#refusedSince[cause] = 0;
      if (cause === 'total') {
        this.logger.warn(
          { endpoint, source, limit: this.limits.maxConnections, refusedSinceLastLog: refused, setting: 'gateway.preAuth.maxConnections' },
          'refusing connections: too many clients have not authenticated yet',
        );
      } else {
        this.logger.warn(
          { endpoint, source, limit: this.limits.maxConnectionsPerSource, refusedSinceLastLog: refused, setting: 'gateway.preAuth.maxConnectionsPerSource' },
          'refusing connections from one source: too many of its clients have not authenticated yet',
        );
      }
    }
    return cause;
  }
}
