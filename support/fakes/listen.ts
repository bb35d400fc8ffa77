import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on loopback (port 0: a free one) and resolves with where the fake can be reached. */
export async function listenOnLoopback(server: Server, port = 0): Promise<{ endpoint: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return { endpoint: `http://127.0.0.1:${bound}`, port: bound };
}
