import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseTerminatedEvent } from '../../src/domain/schemas';
import { buildWebhookServer, WEBHOOK_PATH } from '../../src/interfaces/webhook-server';
import { leaseTerminatedEvent } from '../../support/events';
import { httpRequest } from '../helpers/http';
import { silentLogger } from '../helpers/logs';
import { testClient, uniqueTaskQueue } from '../helpers/temporal';

const API_KEY = 'fuzz-webhook-key-0123456789abcdef';
const taskQueue = uniqueTaskQueue('fuzz');
let app: FastifyInstance;
let url: string;
let starts = 0;

beforeAll(async () => {
  const client = testClient();
  // Count start attempts at the client boundary: the visibility check below is the server's view.
  const start = client.workflow.start.bind(client.workflow);
  client.workflow.start = ((...args: Parameters<typeof start>) => {
    starts++;
    return start(...args);
  }) as typeof start;
  app = buildWebhookServer({
    // The per-source limit would answer 429 to most of 1,200 requests from one address; it has a test of its own.
    config: {
      TEMPORAL_TASK_QUEUE: taskQueue,
      BILLING_PADDING_HOURS: 8,
      RERUN_WINDOW_DAYS: 30,
      WEBHOOK_API_KEY: API_KEY,
      WEBHOOK_AUTH: 'api-key',
      WEBHOOK_RATE_LIMIT_PER_MINUTE: 0,
    },
    client,
    logger: silentLogger(),
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}${WEBHOOK_PATH}`;
});
afterAll(async () => app?.close());

const valid = leaseTerminatedEvent();
const header = fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')); // what Node lets a client send
const hostileString = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom(
    '=cmd|/C calc!A0',
    '\u0000',
    '__proto__',
    '../../etc/passwd',
    "'; DROP TABLE leases;--",
    '\ud800',
    'a'.repeat(5000),
    '1e309',
    '-0',
  ),
);
/** A valid event with one field at any depth replaced by hostile data, kept only if the schema rejects it. */
const mutatedEvent = fc
  .tuple(
    fc.constantFrom(
      'id',
      'detail-type',
      'source',
      'time',
      'detail',
      'detail.accountId',
      'detail.leaseId',
      'detail.leaseId.uuid',
      'detail.leaseId.userEmail',
      'detail.reason',
      'detail.reason.type',
      'detail.reason.leaseDurationInHours',
      'version',
      'resources',
    ),
    fc.oneof(
      hostileString,
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.jsonValue({ maxDepth: 3 }),
      fc.array(fc.anything(), { maxLength: 3 }),
    ),
  )
  .map(([path, value]) => {
    const copy = structuredClone(valid) as Record<string, unknown>;
    const keys = path.split('.');
    let node = copy;
    for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
    node[keys.at(-1)!] = value;
    return JSON.stringify(copy);
  });
const body = fc.oneof(
  mutatedEvent,
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 500 }),
  fc.uint8Array({ maxLength: 500 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.integer({ min: 1, max: 20_000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
  fc.constant('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
  fc.constant(''),
);
const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/xml',
    'multipart/form-data; boundary=x',
    'application/json; charset=utf-16',
  ),
  header,
);
const apiKey = fc.oneof(fc.constant(API_KEY), fc.constant(undefined), header, fc.constant(`${API_KEY} `));

describe('webhook under hostile input', () => {
  it('1,000+ malformed or hostile requests: no 5xx, no dropped connection, no workflow', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        body,
        contentType,
        apiKey,
        fc.constantFrom('POST', 'PUT', 'PATCH', 'DELETE', 'GET'),
        async (payload, type, key, method) => {
          // A body the schema accepts would rightly start a workflow: only invalid ones are fuzzed.
          let parsed: unknown;
          try {
            parsed = JSON.parse(payload);
          } catch {
            parsed = undefined;
          }
          fc.pre(!LeaseTerminatedEvent.safeParse(parsed).success);
          const headers: Record<string, string> = { 'content-type': type };
          if (key !== undefined) headers['x-api-key'] = key;
          const res = await httpRequest(url, { method, headers, body: method === 'GET' ? undefined : payload });
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
          expect(res.json).toMatchObject({ error: expect.any(String) });
          expect(res.text).not.toMatch(/at .+\.(ts|js):\d+|node_modules|FST_ERR/);
        },
      ),
      { numRuns: 1200, seed: Number(process.env.FUZZ_SEED ?? 20261125) },
    );
    expect([...seen.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(1000);
    // Every rejection class was exercised, so the fuzzer reached past the front door.
    expect([...seen.keys()].sort()).toEqual(expect.arrayContaining([400, 401, 404, 415]));
    expect(starts).toBe(0);
    const { count } = await testClient().workflow.count(`TaskQueue = '${taskQueue}'`);
    expect(count).toBe(0);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
