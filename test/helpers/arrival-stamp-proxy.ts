// A TCP proxy, run as a process of its own, that writes each HTTP request's arrival time into it
// (header `x-fake-arrived-at`, epoch ms) before passing it on. A fake that runs in the test's
// process stamps a request when that process gets to it, and a busy or collecting test process
// stamps late: calls that arrived apart look bunched. This process does nothing else, so its
// stamps are the arrivals. Requests are not pipelined (the AWS SDK sends the next request on a
// connection after the answer), so the first bytes after an answer start a new request.
// Usage: node --import tsx arrival-stamp-proxy.ts <upstream port>; prints {"port": N} when ready.
import { connect, createServer } from 'node:net';

const upstreamPort = Number(process.argv[2]);
const server = createServer((client) => {
  const upstream = connect(upstreamPort, '127.0.0.1');
  let startsRequest = true;
  client.on('data', (chunk: Buffer) => {
    if (startsRequest) {
      const line = chunk.indexOf('\r\n');
      if (line > 0)
        chunk = Buffer.concat([
          chunk.subarray(0, line + 2),
          Buffer.from(`x-fake-arrived-at: ${Date.now()}\r\n`),
          chunk.subarray(line + 2),
        ]);
      startsRequest = false;
    }
    upstream.write(chunk);
  });
  upstream.on('data', (chunk: Buffer) => {
    startsRequest = true;
    client.write(chunk);
  });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('close', close).on('error', close);
  upstream.on('close', close).on('error', close);
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port })));
