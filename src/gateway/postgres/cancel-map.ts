/**
 * CancelRequest through the gateway. Each session gets its own random
 * BackendKeyData (never the server's pid, which would leak and be guessable);
 * a cancel naming it is forwarded to the server with the server's own key.
 * Unknown keys get no answer, as PostgreSQL does.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { pooledRandomUint32 } from '../../util/random-pool.js';

export interface UpstreamCancelKey {
  readonly processId: number;
  readonly secretKey: Buffer;
}

/**
 * Sends the cancel to whichever server connection the session holds now: its
 * own (instance endpoints), or the one it borrowed (proxy endpoints). Errors
 * are swallowed by the caller.
 */
export type CancelTarget = () => Promise<void>;

export class CancelMap {
  readonly #byPid = new Map<number, { secret: Buffer; target: CancelTarget }>();

  /** Registers a session; returns the key to give the client and a release function. */
  register(target: CancelTarget): { processId: number; secretKey: Buffer; release: () => void } {
    let processId: number;
    do {
      // Positive 31-bit ids look like real pids to clients that print them.
      processId = pooledRandomUint32() & 0x7fffffff;
    } while (processId === 0 || this.#byPid.has(processId));
    const secret = randomBytes(4);
    this.#byPid.set(processId, { secret, target });
    return { processId, secretKey: secret, release: () => this.#byPid.delete(processId) };
  }

  /** Forwards a cancel if the key matches a live session; resolves either way. */
  async cancel(processId: number, secretKey: Buffer): Promise<boolean> {
    const entry = this.#byPid.get(processId);
    if (entry === undefined || entry.secret.length !== secretKey.length || !timingSafeEqual(entry.secret, secretKey)) return false;
    await entry.target().catch(() => undefined);
    return true;
  }

  get size(): number {
    return this.#byPid.size;
  }
}
