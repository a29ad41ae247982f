/**
 * A bound on the server connections an endpoint holds for logins that have
 * not completed: a password user's exchange with the server, an IAM user's
 * server login. Without it, clients that start logins (and, for password
 * users, stall in the middle) could use up the server's own connection
 * limit, so that nobody, direct clients included, could log in.
 *
 * Logins over the bound wait, first come first served, for at most their
 * remaining login time, and hold no server connection while they wait.
 */
import { IamdbError } from '../errors/index.js';

interface Waiter {
  readonly grant: (release: () => void) => void;
  readonly fail: (err: Error) => void;
}

export class ServerLoginSlots {
  #inUse = 0;
  readonly #waiters: Waiter[] = [];

  constructor(readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: `a server login bound of ${size}` });
  }

  /** Server connections held for logins in progress now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Logins waiting for a place. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Waits for a place, up to `timeoutMs` or until `signal` aborts (the
   * client left). Resolves with the function that gives the place back
   * (idempotent).
   */
  acquire(timeoutMs: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new IamdbError('GATEWAY_PEER_CLOSED', {}));
    if (this.#inUse < this.size) return Promise.resolve(this.#take());
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
      };
      const waiter: Waiter = {
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

  #take(): () => void {
    this.#inUse++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters[0];
      // The place passes straight to the next waiter, so a newcomer cannot overtake it.
      if (next !== undefined) next.grant(this.#handOver());
      else this.#inUse--;
    };
  }

  /** A release function for a place that changes hands without being counted twice. */
  #handOver(): () => void {
    this.#inUse--;
    return this.#take();
  }
}
