/**
 * The kernel's view of a loopback TCP connection (Linux `/proc/net/tcp`):
 * its state and how many bytes wait unread in its receive queue. Tests use
 * it to know that a client's bytes, FIN or reset have reached the gateway's
 * socket while nobody reads it, so an ordering that is otherwise a race
 * (the client acts between two steps of the gateway) happens every time.
 */
import { readFileSync } from 'node:fs';

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
