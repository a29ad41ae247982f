/**
 * CancelRequest through the gateway. Each session gets its own random
 * BackendKeyData (never the server's pid, which would leak and be guessable);
 * a cancel naming it is forwarded to the server with the server's own key.
 * Unknown keys get no answer, as PostgreSQL does.
 */
import { timingSafeEqual } from 'node:crypto';
import { pooledRandomBytes, pooledRandomUint32 } from '../../util/random-pool.js';

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
  /** The secret as a number: a Buffer per session would cost an ArrayBuffer and its backing store for the session's life. */
  readonly #byPid = new Map<number, { secret: number; target: CancelTarget }>();

  /** Registers a session; returns the key to give the client and a release function. */
  register(target: CancelTarget): { processId: number; secretKey: Buffer; release: () => void } {
    let processId: number;
    do {
      // Positive 31-bit ids look like real pids to clients that print them.
      processId = pooledRandomUint32() & 0x7fffffff;
    } while (processId === 0 || this.#byPid.has(processId));
    const secretKey = pooledRandomBytes(4);
    this.#byPid.set(processId, { secret: secretKey.readUInt32BE(0), target });
    return { processId, secretKey, release: () => this.#byPid.delete(processId) };
  }

  /** Forwards a cancel if the key matches a live session; resolves either way. */
  async cancel(processId: number, secretKey: Buffer): Promise<boolean> {
    const entry = this.#byPid.get(processId);
    if (entry === undefined || secretKey.length !== 4) return false;
    const secret = Buffer.allocUnsafe(4);
    secret.writeUInt32BE(entry.secret, 0);
    if (!timingSafeEqual(secret, secretKey)) return false;
    await entry.target().catch(() => undefined);
    return true;
  }

  get size(): number {
    return this.#byPid.size;
  }
}
