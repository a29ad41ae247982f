/**
 * Connection ids for the gateway's own MySQL greetings. The gateway greets a
 * client before any server connection exists, so the id a client learns
 * (and later names in `KILL QUERY <id>`, as the mariadb client's Ctrl-C and
 * JDBC's Statement.cancel do) is the gateway's, not the server's thread id.
 * This registry maps one to the other so such a KILL reaches the right
 * server thread, the way PostgreSQL's cancel keys are mapped (cancel-map.ts).
 *
 * Ids come from the upper half of the 32-bit range, where server thread ids
 * (which count up from 1) do not reach in practice, so a KILL naming a
 * server thread id (from SHOW PROCESSLIST or CONNECTION_ID()) is passed on
 * unchanged.
 */
import { randomInt } from 'node:crypto';

const BASE = 0x8000_0000;
const SPAN = 0x7fff_ffff;

/** A server thread reached through the gateway. */
export interface ServerThread {
  readonly instanceId: string;
  readonly threadId: number;
}

export class MysqlConnectionIds {
  #next = randomInt(SPAN);
  readonly #threads = new Map<number, ServerThread | undefined>();

  /** A fresh id for a greeting; give it back with `release`. */
  allocate(): number {
    for (;;) {
      const id = BASE + (this.#next++ % SPAN);
      if (!this.#threads.has(id)) {
        this.#threads.set(id, undefined);
        return id;
      }
    }
  }

  /** The session behind `id` logged in: its server thread. */
  bind(id: number, thread: ServerThread): void {
    if (this.#threads.has(id)) this.#threads.set(id, thread);
  }

  /** The server thread a client-visible id stands for, if it is one of ours. */
  lookup(id: number): ServerThread | undefined {
    return this.#threads.get(id);
  }

  /** True for ids in the range this registry hands out. */
  static isGatewayId(id: number): boolean {
    return id >= BASE && id < BASE + SPAN;
  }

  release(id: number): void {
    this.#threads.delete(id);
  }
}
