import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { dataConverterFor } from '../../src/infrastructure/codec';
import { buildCodecServer } from '../../src/interfaces/codec-server';
import { rawHistoryText } from '../helpers/history';
import { httpRequest } from '../helpers/http';
import { silentLogger } from '../helpers/logs';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { fetchHistory } from '../helpers/temporal';

const DAY = 24 * 3600_000;
const KEYS = `k2:${randomBytes(32).toString('base64')},k1:${randomBytes(32).toString('base64')}`;
const UI_ORIGIN = 'http://127.0.0.1:8233';
let stack: Stack;
let client: Client;
let codecServer: FastifyInstance;
let codecUrl: string;

beforeAll(async () => {
  stack = await startStack({ env: { PAYLOAD_ENCRYPTION_KEYS: KEYS, RERUN_WINDOW_DAYS: '0' } });
  await stack.startWorker();
  client = new Client({
    connection: Connection.lazy({ address: stack.config.TEMPORAL_ADDRESS }),
    dataConverter: dataConverterFor(KEYS),
  });
  codecServer = buildCodecServer({ PAYLOAD_ENCRYPTION_KEYS: KEYS, CODEC_CORS_ORIGINS: UI_ORIGIN }, silentLogger());
  await codecServer.listen({ port: 0, host: '127.0.0.1' });
  const addr = codecServer.server.address();
  codecUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await codecServer?.close();
  await client?.connection.close();
  await stack?.stop();
});

describe('payload encryption', () => {
  it('a finished run\'s raw history holds no email, secret key or session token; the codec endpoint decodes it', async () => {
    const lease = { uuid: randomUUID(), userEmail: `mary.jackson.${randomUUID().slice(0, 6)}@example.gov.uk`, accountId: '567890123456' };
    const startDate = new Date(Date.now() - 2 * DAY).toISOString();
    stack.isb.addLease({ ...lease, startDate, status: 'Expired' });
    stack.ce.addCosts(dailyCosts({ accountId: lease.accountId, start: startDate.slice(0, 10), end: new Date(Date.now() + DAY).toISOString().slice(0, 10), service: 'Amazon S3', resourceId: 'arn:aws:s3:::enc-bucket', region: 'us-east-1', amount: '1.5' }));
    await startLeaseCosts(client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid, userEmail: lease.userEmail, accountId: lease.accountId,
      terminatedAt: new Date().toISOString(), paddingHours: 0, rerunWindowHours: 0,
    });
    const result = await client.workflow.getHandle(workflowIdFor(lease.uuid)).result() as { totalCost: string };
    expect(result.totalCost).toBe('4.5');

    // Raw history, as anyone with read access to the namespace sees it: no codec.
    const history = await fetchHistory(stack.client, workflowIdFor(lease.uuid));
    const raw = rawHistoryText(history);
    const ceCall = stack.ce.calls.find((c) => JSON.stringify(c.request).includes(lease.accountId))!;
    expect(ceCall.sessionToken).toBeTruthy();
    for (const secret of [lease.userEmail, ceCall.accessKeyId!, ceCall.sessionToken!, stack.isb.secret, '"totalCost":"4.5"']) {
      expect(raw).not.toContain(secret);
    }
    expect(raw).toContain('binary/encrypted');
    expect(raw).toContain('k2');

    // The codec endpoint gives operators (and Temporal UI) the plaintext back.
    const input = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads!;
    const res = await httpRequest(`${codecUrl}/decode`, {
      headers: { 'content-type': 'application/json', origin: UI_ORIGIN, 'x-namespace': 'default' },
      body: JSON.stringify({ payloads: input.map((p) => ({
        metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
        data: Buffer.from(p.data!).toString('base64'),
      })) }),
    });
    expect(res.status).toBe(200);
    expect(res.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    const decoded = (res.json as { payloads: { metadata: Record<string, string>; data: string }[] }).payloads;
    expect(Buffer.from(decoded[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(decoded[0]!.data, 'base64').toString())).toMatchObject({ leaseUuid: lease.uuid, userEmail: lease.userEmail });

    // The preflight the UI sends first, and a stranger's origin that gets no CORS grant.
    const preflight = await httpRequest(`${codecUrl}/decode`, { method: 'OPTIONS', headers: { origin: UI_ORIGIN, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toContain('x-namespace');
    const stranger = await httpRequest(`${codecUrl}/decode`, { headers: { 'content-type': 'application/json', origin: 'https://evil.example' }, body: '{"payloads":[]}' });
    expect(stranger.headers['access-control-allow-origin']).toBeUndefined();
    const bad = await httpRequest(`${codecUrl}/decode`, { headers: { 'content-type': 'application/json' }, body: '{"payloads":[{"metadata":{"encoding":"YmluYXJ5L2VuY3J5cHRlZA==","encryption-key-id":"azk="},"data":"AAAA"}]}' });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: expect.stringMatching(/key "k9"/) });
  });
});
