import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/ports';
import { spawnManaged, type ManagedProcess } from '../../support/tools';
import { WEBHOOK_PATH } from '../../src/interfaces/webhook-server';
import { leaseTerminatedEvent } from '../../support/events';
import { httpRequest } from '../helpers/http';
import { waitFor } from '../helpers/wait';
import { builtBin } from '../helpers/cli';

const API_KEY = 'shutdown-test-key-0123456789abcdef';
let webhook: ManagedProcess | undefined;
let blackHole: Server | undefined;
const sockets: Socket[] = [];

afterAll(async () => {
  await webhook?.stop();
  for (const s of sockets) s.destroy();
  await new Promise((r) => (blackHole ? blackHole.close(r) : r(undefined)));
});

describe('lease-costs webhook on SIGTERM', () => {
  it('finishes the request in flight, then exits 0', async () => {
    // A "Temporal" that accepts connections and never answers: a start stays in flight for seconds.
    blackHole = createServer((socket) => void sockets.push(socket));
    const temporalPort = await freePort();
    await new Promise<void>((r) => blackHole!.listen(temporalPort, '127.0.0.1', r));
    const port = await freePort();
    webhook = spawnManaged(process.execPath, [builtBin(), 'webhook'], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
        WEBHOOK_PORT: String(port),
        WEBHOOK_HOST: '127.0.0.1',
        WEBHOOK_API_KEY: API_KEY,
      },
    });
    let out = '';
    webhook.process.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
    });
    await waitFor(async () => (out.includes('webhook listening') ? true : undefined), 30_000, 'the webhook to listen');

    const inFlight = httpRequest(`http://127.0.0.1:${port}${WEBHOOK_PATH}`, {
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(leaseTerminatedEvent()),
    });
    await waitFor(async () => (sockets.length > 0 ? true : undefined), 10_000, 'the start to reach "Temporal"');
    const t0 = Date.now();
    webhook.process.kill('SIGTERM');

    // The request in flight gets its real answer (Temporal did not respond: 503), not a reset.
    const res = await inFlight;
    expect(res.status).toBe(503);
    expect(res.json).toEqual({ error: expect.any(String) });
    expect(await webhook.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(out).toContain('"msg":"shutting down"');
    // Nothing listens any more.
    await expect(httpRequest(`http://127.0.0.1:${port}/healthz`, { method: 'GET' })).rejects.toThrow(/ECONNREFUSED/);
  });
});
