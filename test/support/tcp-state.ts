/**
 * The kernel's view of a loopback TCP connection (Linux `/proc/net/tcp`):
 * its state and how many bytes wait unread in its receive queue. Tests use
 * it to know that a client's bytes, FIN or reset have reached the gateway's
 * socket while nobody reads it, so an ordering that is otherwise a race
 * (the client acts between two steps of the gateway) happens every time.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** TCP states as `/proc/net/tcp` numbers them (include/net/tcp_states.h). */
export const TcpState = {
  Established: 0x01,
  Close: 0x07,
  CloseWait: 0x08,
} as const;

/** One socket's state and unread byte count. */
export interface TcpSocketState {
  readonly state: number;
  readonly rxQueue: number;
}

/**
 * The IPv4 socket whose local port is `localPort` and peer port `remotePort`,
 * or undefined once the kernel has dropped it from its tables (a socket that
 * took a reset leaves them at once, even while a descriptor still names it).
 *
 * @example tcpSocketState(gatewayPort, client.localPort!)?.rxQueue
 */
export function tcpSocketState(localPort: number, remotePort: number): TcpSocketState | undefined {
  const hex = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
  const local = `:${hex(localPort)}`;
  const remote = `:${hex(remotePort)}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || !f[1]!.endsWith(local) || !f[2]!.endsWith(remote)) continue;
    return { state: parseInt(f[3]!, 16), rxQueue: parseInt(f[4]!.split(':')[1]!, 16) };
  }
  return undefined;
}

/**
 * Resolves once `done(state)` holds for that socket, checking on every turn
 * of the event loop (a condition, not a guessed delay); rejects after
 * `timeoutMs` with the last state seen.
 */
export function untilTcpSocket(localPort: number, remotePort: number, what: string, done: (s: TcpSocketState | undefined) => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const s = tcpSocketState(localPort, remotePort);
      if (done(s)) return resolve();
      if (Date.now() > deadline) return reject(new Error(`${what}: not seen in ${timeoutMs} ms (last state ${JSON.stringify(s)})`));
      setImmediate(check);
    };
    check();
  });
}

/** The sockets this process holds, by kind (see {@link processSockets}). */
export interface ProcessSockets {
  /** TCP connections (not listeners) whose local port is the one asked about. */
  readonly tcpOnPort: number;
  /** Unix-domain sockets (socketpairs among them). */
  readonly unix: number;
  /** Sockets in no kernel table: a TCP connection that took a reset and is still held open. */
  readonly unlisted: number;
}

/**
 * Counts the sockets behind this process's descriptors (`/proc/self/fd`):
 * connections accepted on `localPort`, Unix sockets, and sockets the
 * kernel has already dropped from its tables. A gateway that has let go of
 * every session holds none of the first kind, and no more of the others
 * than it did before.
 */
export function processSockets(localPort: number): ProcessSockets {
  const inodes = new Map<string, 'on-port' | 'other' | 'unix'>();
  const port = `:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      // Listeners (state 0A) are not connections.
      inodes.set(f[9]!, f[1]!.endsWith(port) && f[3] !== '0A' ? 'on-port' : 'other');
    }
  }
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 7) inodes.set(f[6]!, 'unix');
  }
  let tcpOnPort = 0;
  let unix = 0;
  let unlisted = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the descriptor readdir itself used, already closed
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode === undefined) continue;
    const kind = inodes.get(inode);
    if (kind === 'on-port') tcpOnPort++;
    else if (kind === 'unix') unix++;
    else if (kind === undefined) unlisted++;
  }
  return { tcpOnPort, unix, unlisted };
}
