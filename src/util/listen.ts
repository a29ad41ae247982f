import type { ListenOptions, Server } from 'node:net';

/**
 * Starts `server` listening and resolves with the port it bound (the one
 * asked for, or the kernel's choice for port 0); rejects with the bind error
 * (EADDRINUSE, EACCES) instead of letting it reach the server's 'error'
 * listeners, which stay in place for errors that come later.
 */
export function listenOn(server: Server, options: ListenOptions & { port: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr !== null ? addr.port : options.port);
    });
  });
}
