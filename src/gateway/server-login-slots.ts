/**
 * A bound on the server connections an endpoint holds for logins that have
 * not completed: a password user's exchange with the server, an IAM user's
 * server login. Without it, clients that start logins (and, for password
 * users, stall in the middle) could use up the server's own connection
 * limit, so that nobody, direct clients included, could log in.
 *
 * Logins over the bound wait, first come first served, for at most their
 * remaining login time, and hold no server connection while they wait. One
 * source (an IPv4 address or an IPv6 /64) may hold at most a quarter of the
 * places: a client that stalls its password logins on purpose delays only
 * its own beyond that, and every other source still finds places.
 */
import { IamdbError } from '../errors/index.js';

interface Waiter {
  readonly source: string;
  readonly grant: (release: () => void) => void;
  readonly fail: (err: Error) => void;
}

export class ServerLoginSlots {
  #inUse = 0;
  readonly #bySource = new Map<string, number>();
  readonly #waiters: Waiter[] = [];
  /** Most places one source may hold at once. */
  readonly perSource: number;

  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: `a server login bound of ${size}` });
    this.perSource = Math.max(1, Math.ceil(size / 4));
  }

  /** Server connections held for logins in progress now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Logins waiting for a place. */
  get waiting(): number {
    return this.#waiters.length;
  }

  #fits(source: string): boolean {
    return this.#inUse < this.size && (this.#bySource.get(source) ?? 0) < this.perSource;
  }

  /**
   * Waits for a place for a login from `source`, up to `timeoutMs` or until
   * `signal` aborts (the client left). Resolves with the function that gives
   * the place back (idempotent).
   */
  acquire(timeoutMs: number, signal?: AbortSignal, source = ''): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new IamdbError('GATEWAY_PEER_CLOSED', {}));
    if (this.#fits(source) && !this.#waiters.some((w) => w.source === source || this.#fits(w.source))) return Promise.resolve(this.#take(source));
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
      const waiter: Waiter = {
        source,
        grant: (release) => {
          done();
          resolve(release);
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      const onAbort = (): void => waiter.fail(new IamdbError('GATEWAY_PEER_CLOSED', {}));
      const timer = setTimeout(() => waiter.fail(new IamdbError('GATEWAY_SERVER_LOGINS_BUSY', { size: this.size })), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #take(source: string): () => void {
    this.#inUse++;
    this.#bySource.set(source, (this.#bySource.get(source) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#inUse--;
      const n = (this.#bySource.get(source) ?? 1) - 1;
      if (n <= 0) this.#bySource.delete(source);
      else this.#bySource.set(source, n);
      this.#grantWaiters();
    };
  }

  /** Gives free places to the oldest waiters whose source is under its share. */
  #grantWaiters(): void {
    for (let i = 0; i < this.#waiters.length && this.#inUse < this.size; ) {
      const w = this.#waiters[i] as Waiter;
      if (this.#fits(w.source)) w.grant(this.#take(w.source));
      else i++;
    }
  }
}
