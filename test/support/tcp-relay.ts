/**
 * A TCP relay to a local port, in a process of its own, for a client that
 * must take nothing more at all once it has stopped reading. A socket
 * paused in the test's own process is not that still: the kernel goes on
 * growing its receive buffer (autotuning), and so takes another few hundred
 * KB a second or more after the pause, at a moment that depends on timing.
 * The relay's socket to the target has a small receive buffer, fixed before
 * it connects (SO_RCVBUF turns autotuning off for it), and freeze() stops the
 * relay (SIGSTOP): from then on the target can send it no more than that.
 *
 * Python (Debian's /usr/bin/python3, which the tests already need), as
 * node cannot set SO_RCVBUF on a TCP socket.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface TcpRelay {
  /** The relay's port on 127.0.0.1; it takes one connection. */
  readonly port: number;
  /** Stops the relay process (SIGSTOP): it moves no byte either way until thaw(). */
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

/** Bytes the relay's socket to the target may hold unread (the kernel doubles it for its own bookkeeping). */
const TARGET_RCVBUF = 4096;

// One connection, each direction copied by a blocking loop: a side that takes nothing stops the copy, so the
// relay stops reading the other side. The listening port goes to stdout.
const script = `
import socket, sys, threading
target, rcvbuf = int(sys.argv[1]), int(sys.argv[2])
srv = socket.socket()
srv.bind(('127.0.0.1', 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
down, _ = srv.accept()
srv.close()
up = socket.socket()
up.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
up.connect(('127.0.0.1', target))
def copy(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
t = threading.Thread(target=copy, args=(up, down), daemon=True)
t.start()
copy(down, up)
t.join()
`;

export async function startTcpRelay(targetPort: number): Promise<TcpRelay> {
  // Without the sanitizer job's LD_PRELOAD: the relay is not under test.
  const env = { ...process.env };
  delete env['LD_PRELOAD'];
  const child = spawn('/usr/bin/python3', ['-c', script, String(targetPort), String(TARGET_RCVBUF)], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    child.once('exit', (code) => reject(new Error(`tcp relay exited (${code}) before listening`)));
    child.once('error', reject);
  });
  const pid = child.pid!;
  return {
    port,
    freeze: () => process.kill(pid, 'SIGSTOP'),
    thaw: () => process.kill(pid, 'SIGCONT'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      // A frozen process takes SIGKILL too.
      child.kill('SIGKILL');
      await exited;
    },
  };
}
