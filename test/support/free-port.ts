// A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks one when
// we listen on port 0, and we close the listener right away. Another process
// may grab it before the caller binds, so servers started on it retry with a
// new port when the bind fails.
import { createServer } from 'node:net';

export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('getFreePort: listener has no TCP address'));
        return;
      }
      const { port } = addr;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}
