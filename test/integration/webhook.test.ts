import { randomUUID } from 'node:crypto';
import { Client, WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { msToTs } from '@temporalio/common/lib/time';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflowIdFor } from '../../src/infrastructure/client';
import { startTemporalDevServer, type DevServer } from '../../support/dev-server';
import { freePort } from '../../support/ports';
import type { LeaseStatus } from '../../src/domain/schemas';
import { setUpNamespace } from '../../src/infrastructure/namespace-setup';
import { RECONCILE_SCHEDULE_ID } from '../../src/infrastructure/schedule-install';
import {
  buildWebhookServer,
  LIVENESS_PATH,
  runWebhook,
  WEBHOOK_PATH,
  type RunningWebhook,
} from '../../src/interfaces/webhook-server';
import { ISB_TERMINATION_REASONS, leaseTerminatedEvent } from '../../support/events';
import { memoryLogger, silentLogger } from '../helpers/logs';
import { httpRequest } from '../helpers/http';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { listWhenSettled, uniqueTaskQueue } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const API_KEY = 'test-webhook-key-0123456789abcdef';
const DAY = 24 * 3600_000;
let stack: Stack;
let app: FastifyInstance;
let url: string;
const { logger: accessLogger, lines: accessLog } = memoryLogger();

async function listen(server: FastifyInstance): Promise<string> {
  await server.listen({ port: 0, host: '127.0.0.1' });
  const addr = server.server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  return `http://127.0.0.1:${addr.port}`;
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  httpRequest(`${url}${WEBHOOK_PATH}`, {
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY, ...headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });

const exists = (client: Client, uuid: string) =>
  client.workflow
    .getHandle(workflowIdFor(uuid))
    .describe()
    .then(
      () => true,
      (err) => {
        if (err instanceof WorkflowNotFoundError) return false;
        throw err;
      },
    );

beforeAll(async () => {
  stack = await startStack({ env: { RERUN_WINDOW_DAYS: '0' } });
  await stack.startWorker();
  app = buildWebhookServer({
    config: { ...stack.config, WEBHOOK_API_KEY: API_KEY, WEBHOOK_AUTH: 'api-key' },
    client: stack.client,
    logger: accessLogger,
  });
  url = await listen(app);
});
afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

describe('webhook intake', () => {
  it('a valid event starts the lease workflow (202) with its search attributes, timed from the event', async () => {
    const uuid = randomUUID();
    const event = leaseTerminatedEvent({
      uuid,
      accountId: '210987654321',
      time: new Date(Date.now() - 60_000).toISOString(),
    });
    const res = await post(event);
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ workflowId: workflowIdFor(uuid), runId: expect.any(String), status: 'started' });

    const handle = stack.client.workflow.getHandle(workflowIdFor(uuid));
    const desc = await handle.describe();
    expect(desc.status.name).toBe('RUNNING');
    expect(desc.type).toBe('leaseCostsWorkflow');
    expect(desc.searchAttributes.LeaseUuid).toEqual([uuid]);
    expect(desc.searchAttributes.AwsAccountId).toEqual(['210987654321']);
    // The worker picks it up and sleeps until termination time + padding, not webhook time + padding.
    const status = await waitFor(
      async () => {
        const s = await handle.query<LeaseStatus>('status');
        return s.phase === 'waiting' ? s : undefined;
      },
      30_000,
      'phase waiting',
    );
    expect(Date.parse(status.settleUntil!)).toBe(
      Date.parse(event.time) + stack.config.BILLING_PADDING_HOURS * 3600_000,
    );

    const line = accessLog.find((l) => l.leaseUuid === uuid);
    expect(line).toMatchObject({ method: 'POST', path: WEBHOOK_PATH, status: 202, latencyMs: expect.any(Number) });
    expect(JSON.stringify(accessLog)).not.toContain(API_KEY);
    expect(JSON.stringify(accessLog)).not.toContain(event.detail.leaseId.userEmail);
  });

  it('accepts LeaseTerminated as the ISB emits it: any InnovationSandbox-<namespace> source (or isb), every reason shape, which the run keeps', async () => {
    const sources = ['InnovationSandbox-ndx', 'InnovationSandbox-myisb', 'isb'];
    const events = ISB_TERMINATION_REASONS.map((reason, i) =>
      leaseTerminatedEvent({ reason, source: sources[i % sources.length] }),
    );
    for (const event of events) {
      const res = await post(event);
      expect(res.status, JSON.stringify(event.detail.reason)).toBe(202);
    }
    for (const event of events) {
      const handle = stack.client.workflow.getHandle(workflowIdFor(event.detail.leaseId.uuid));
      const status = await waitFor(() => handle.query<LeaseStatus>('status').catch(() => undefined), 30_000, 'status');
      expect(status.terminationReason).toEqual(event.detail.reason);
      await handle.terminate('test done');
    }
  });

  it('redelivery while running and after completion answers 200 duplicate; one execution in total', async () => {
    const uuid = randomUUID();
    const accountId = '345678901234';
    const userEmail = 'grace.hopper@example.gov.uk';
    const start = new Date(Date.now() - 3 * DAY).toISOString();
    stack.isb.addLease({ uuid, userEmail, accountId, startDate: start, status: 'Expired' });
    stack.ce.addCosts(
      dailyCosts({
        accountId,
        start: start.slice(0, 10),
        end: new Date(Date.now() + DAY).toISOString().slice(0, 10),
        service: 'Amazon S3',
        resourceId: 'arn:aws:s3:::bucket-a',
        region: 'us-east-1',
        amount: '0.5',
      }),
    );
    const event = leaseTerminatedEvent({ uuid, accountId, userEmail });

    const first = await post(event);
    expect(first.status).toBe(202);
    const whileRunning = await post({ ...event, id: randomUUID() });
    expect(whileRunning.status).toBe(200);
    expect(whileRunning.json).toEqual({ workflowId: workflowIdFor(uuid), status: 'duplicate' });

    const handle = stack.client.workflow.getHandle(workflowIdFor(uuid));
    await handle.signal('collectNow');
    const result = (await handle.result()) as { version: number };
    expect(result.version).toBe(1);
    expect((await handle.describe()).status.name).toBe('COMPLETED');

    const afterCompletion = await post(event);
    expect(afterCompletion.status).toBe(200);
    expect(afterCompletion.json).toEqual({ workflowId: workflowIdFor(uuid), status: 'duplicate' });
    const runs = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${workflowIdFor(uuid)}'` }))
      runs.push(wf.runId);
    expect(runs).toHaveLength(1);
  });

  it('an upper-case uuid after the lower-case one is a 200 duplicate of the same lease: one workflow, lower case everywhere', async () => {
    const uuid = randomUUID();
    const event = leaseTerminatedEvent({ uuid });
    expect((await post(event)).status).toBe(202);
    const upper = leaseTerminatedEvent({ uuid: uuid.toUpperCase() });
    const res = await post(upper);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ workflowId: `lease-costs-${uuid}`, status: 'duplicate' });
    expect(workflowIdFor(uuid.toUpperCase())).toBe(`lease-costs-${uuid}`);
    const ids = await listWhenSettled(
      stack.client,
      `LeaseUuid = '${uuid}' OR LeaseUuid = '${uuid.toUpperCase()}'`,
      (wf) => wf.workflowId,
      (found) => found.length > 0,
    );
    expect(ids).toEqual([`lease-costs-${uuid}`]);

    // An upper-case first delivery is stored lower case too: input, search attribute, id.
    const other = randomUUID();
    expect((await post(leaseTerminatedEvent({ uuid: other.toUpperCase() }))).status).toBe(202);
    const desc = await stack.client.workflow.getHandle(`lease-costs-${other}`).describe();
    expect(desc.searchAttributes.LeaseUuid).toEqual([other]);
    await stack.client.workflow.getHandle(`lease-costs-${other}`).terminate('test done');
    await stack.client.workflow.getHandle(`lease-costs-${uuid}`).terminate('test done');
  });

  describe('every 4xx row of the contract starts nothing', () => {
    const errorOnly = (json: unknown) => {
      expect(json).toEqual({ error: expect.any(String) });
      expect((json as { error: string }).error.length).toBeGreaterThan(0);
    };
    const invalid: [string, (e: ReturnType<typeof leaseTerminatedEvent>) => unknown, string][] = [
      [
        'account id with 11 digits',
        (e) => ({ ...e, detail: { ...e.detail, accountId: '12345678901' } }),
        'detail.accountId',
      ],
      [
        'bad email',
        (e) => ({ ...e, detail: { ...e.detail, leaseId: { ...e.detail.leaseId, userEmail: 'not-an-email' } } }),
        'detail.leaseId.userEmail',
      ],
      [
        'bad uuid',
        (e) => ({ ...e, detail: { ...e.detail, leaseId: { ...e.detail.leaseId, uuid: 'lease-1' } } }),
        'detail.leaseId.uuid',
      ],
      [
        'nil uuid',
        (e) => ({
          ...e,
          detail: { ...e.detail, leaseId: { ...e.detail.leaseId, uuid: '00000000-0000-0000-0000-000000000000' } },
        }),
        'detail.leaseId.uuid',
      ],
      ['wrong detail-type', (e) => ({ ...e, 'detail-type': 'LeaseApproved' }), 'detail-type'],
      ['wrong source', (e) => ({ ...e, source: 'not-isb' }), 'source'],
      ['our own source', (e) => ({ ...e, source: 'isb-costs' }), 'source'],
      ['ISB source without a namespace', (e) => ({ ...e, source: 'InnovationSandbox-' }), 'source'],
      [
        'no reason',
        (e) => ({ ...e, detail: { leaseId: e.detail.leaseId, accountId: e.detail.accountId } }),
        'detail.reason',
      ],
      [
        'reason type the ISB does not define',
        (e) => ({ ...e, detail: { ...e.detail, reason: { type: 'UserTerminated', comment: 'x' } } }),
        'detail.reason.type',
      ],
      [
        'Expired without leaseDurationInHours',
        (e) => ({ ...e, detail: { ...e.detail, reason: { type: 'Expired' } } }),
        'detail.reason.leaseDurationInHours',
      ],
      [
        'BudgetExceeded without totalSpend',
        (e) => ({ ...e, detail: { ...e.detail, reason: { type: 'BudgetExceeded', budget: 50 } } }),
        'detail.reason.totalSpend',
      ],
      [
        "comment over the ISB's 1000 characters",
        (e) => ({ ...e, detail: { ...e.detail, reason: { type: 'Ejected', comment: 'x'.repeat(1001) } } }),
        'detail.reason.comment',
      ],
      ['time not ISO', (e) => ({ ...e, time: 'yesterday' }), 'time'],
      ['time in year 9999', (e) => ({ ...e, time: '9999-12-31T23:59:59Z' }), 'time'],
      ['time in year 0001', (e) => ({ ...e, time: '0001-01-01T00:00:00Z' }), 'time'],
      ['time 6 minutes ahead', (e) => ({ ...e, time: new Date(Date.now() + 6 * 60_000).toISOString() }), 'time'],
      ['time 31 days ago', (e) => ({ ...e, time: new Date(Date.now() - 31 * DAY).toISOString() }), 'time'],
      ['no detail', ({ detail: _d, ...rest }) => rest, 'detail'],
      ['a JSON array', () => [1, 2, 3], ''],
    ];
    it.each(invalid)('invalid body (%s) → 400 with issues', async (_name, mutate, path) => {
      const event = leaseTerminatedEvent();
      const res = await post(mutate(event));
      expect(res.status).toBe(400);
      const body = res.json as { error: string; issues: { path: string; message: string }[] };
      expect(Object.keys(body).sort()).toEqual(['error', 'issues']);
      expect(body.issues.length).toBeGreaterThan(0);
      for (const issue of body.issues) expect(issue).toEqual({ path: expect.any(String), message: expect.any(String) });
      expect(body.issues.map((i) => i.path)).toContain(path);
      expect(await exists(stack.client, event.detail.leaseId.uuid)).toBe(false);
    });

    it.each([
      ['missing key', {}],
      ['wrong key', { 'x-api-key': `${API_KEY}x` }],
      ['empty key', { 'x-api-key': '' }],
    ])('%s → 401', async (_name, headers) => {
      const event = leaseTerminatedEvent();
      const res = await httpRequest(`${url}${WEBHOOK_PATH}`, {
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(event),
      });
      expect(res.status).toBe(401);
      errorOnly(res.json);
      expect(await exists(stack.client, event.detail.leaseId.uuid)).toBe(false);
    });

    it('the key is checked before the body is read: a wrong key with a huge body is still 401', async () => {
      const res = await post('x'.repeat(300 * 1024), { 'x-api-key': 'nope', 'content-type': 'text/plain' });
      expect(res.status).toBe(401);
      errorOnly(res.json);
    });

    it('body over 256 KiB → 413', async () => {
      const event = leaseTerminatedEvent();
      const big = { ...event, detail: { ...event.detail, padding: 'x'.repeat(256 * 1024) } };
      const res = await post(big);
      expect(res.status).toBe(413);
      errorOnly(res.json);
      expect(await exists(stack.client, event.detail.leaseId.uuid)).toBe(false);
    });

    it.each([
      ['text/plain', 'text/plain', (b: string) => b],
      ['form encoded', 'application/x-www-form-urlencoded', (b: string) => `payload=${encodeURIComponent(b)}`],
      ['JSON content type, body not JSON', 'application/json', (b: string) => b.slice(0, -1)],
      ['empty JSON body', 'application/json', () => ''],
    ])('not JSON (%s) → 415', async (_name, contentType, body) => {
      const event = leaseTerminatedEvent();
      const res = await post(body(JSON.stringify(event)), { 'content-type': contentType });
      expect(res.status).toBe(415);
      errorOnly(res.json);
      expect(await exists(stack.client, event.detail.leaseId.uuid)).toBe(false);
    });

    it('a time a little ahead (clock skew) or within WEBHOOK_MAX_EVENT_AGE_DAYS is accepted', async () => {
      const ahead = leaseTerminatedEvent({ time: new Date(Date.now() + 4 * 60_000).toISOString() });
      expect((await post(ahead)).status).toBe(202);
      const old = leaseTerminatedEvent({ time: new Date(Date.now() - 29 * DAY).toISOString() });
      expect((await post(old)).status).toBe(202);
      for (const e of [ahead, old])
        await stack.client.workflow.getHandle(workflowIdFor(e.detail.leaseId.uuid)).terminate('test done');
    });

    it('JSON with a charset parameter is accepted', async () => {
      const res = await post(leaseTerminatedEvent(), { 'content-type': 'application/json; charset=utf-8' });
      expect(res.status).toBe(202);
    });

    it('unknown routes are JSON 404s and healthz is open', async () => {
      const res = await httpRequest(`${url}/webhooks/other`, { headers: { 'x-api-key': API_KEY } });
      expect(res.status).toBe(404);
      errorOnly(res.json);
      const health = await httpRequest(`${url}/healthz`, { method: 'GET' });
      expect(health.status).toBe(200);
    });
  });

  it('200 concurrent deliveries of 50 leases start exactly 50 workflows', async () => {
    const taskQueue = uniqueTaskQueue('burst');
    const burst = buildWebhookServer({
      config: { ...stack.config, TEMPORAL_TASK_QUEUE: taskQueue, WEBHOOK_API_KEY: API_KEY, WEBHOOK_AUTH: 'api-key' },
      client: stack.client,
      logger: silentLogger(),
    });
    const burstUrl = await listen(burst);
    try {
      const events = Array.from({ length: 50 }, () => leaseTerminatedEvent());
      const deliveries = events.flatMap((e) => [e, e, e, e].map((x) => ({ ...x, id: randomUUID() })));
      deliveries.sort(() => Math.random() - 0.5);
      const responses = await Promise.all(
        deliveries.map((d) =>
          httpRequest(`${burstUrl}${WEBHOOK_PATH}`, {
            headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
            body: JSON.stringify(d),
          }),
        ),
      );
      const byStatus = responses.reduce<Record<number, number>>(
        (acc, r) => ({ ...acc, [r.status]: (acc[r.status] ?? 0) + 1 }),
        {},
      );
      expect(byStatus).toEqual({ 202: 50, 200: 150 });
      const started = new Set(
        responses.filter((r) => r.status === 202).map((r) => (r.json as { workflowId: string }).workflowId),
      );
      expect(started).toEqual(new Set(events.map((e) => workflowIdFor(e.detail.leaseId.uuid))));
      const count = await waitFor(
        async () => {
          const { count: n } = await stack.client.workflow.count(`TaskQueue = '${taskQueue}'`);
          return n === 50 ? n : undefined;
        },
        10_000,
        '50 workflows in visibility',
      );
      expect(count).toBe(50);
    } finally {
      await burst.close();
    }
  });
});

describe('webhook metrics', () => {
  it('GET /metrics counts requests by route and status, with a latency histogram in seconds', async () => {
    const taskQueue = uniqueTaskQueue('metrics');
    const metered = buildWebhookServer({
      config: { ...stack.config, TEMPORAL_TASK_QUEUE: taskQueue, WEBHOOK_API_KEY: API_KEY, WEBHOOK_AUTH: 'api-key' },
      client: stack.client,
      logger: silentLogger(),
    });
    const base = await listen(metered);
    try {
      const send = (body: unknown, key = API_KEY) =>
        httpRequest(`${base}${WEBHOOK_PATH}`, {
          headers: { 'content-type': 'application/json', 'x-api-key': key },
          body: JSON.stringify(body),
        });
      const event = leaseTerminatedEvent();
      const statuses = [
        (await send(event)).status,
        (await send(leaseTerminatedEvent())).status,
        (await send(event)).status,
        (await send(event, 'wrong-key-0123456789')).status,
        (await send({ nope: true })).status,
        (await httpRequest(`${base}/nowhere/${randomUUID()}`, { method: 'GET' })).status,
        (await httpRequest(`${base}/healthz`, { method: 'GET' })).status,
      ];
      expect(statuses).toEqual([202, 202, 200, 401, 400, 404, 200]);

      const res = await httpRequest(`${base}/metrics`, { method: 'GET' });
      expect(res.status).toBe(200);
      expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
      const samples = res.text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => {
          const m = /^(\w+)\{(.*)\} (\S+)$/.exec(l);
          return m
            ? {
                name: m[1]!,
                labels: Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!])),
                value: Number(m[3]),
              }
            : undefined;
        })
        .filter((x) => x !== undefined);
      const byKey = (name: string) =>
        Object.fromEntries(
          samples
            .filter((x) => x.name === name)
            .map((x) => [`${x.labels.method} ${x.labels.route} ${x.labels.status}`, x.value]),
        );
      expect(byKey('lease_costs_webhook_requests_total')).toEqual({
        [`POST ${WEBHOOK_PATH} 202`]: 2,
        [`POST ${WEBHOOK_PATH} 200`]: 1,
        [`POST ${WEBHOOK_PATH} 401`]: 1,
        [`POST ${WEBHOOK_PATH} 400`]: 1,
        'GET unmatched 404': 1,
        'GET /healthz 200': 1,
      });
      // The histogram saw the same requests; every one took less than the 10 s top bucket.
      expect(byKey('lease_costs_webhook_request_duration_seconds_count')).toEqual(
        byKey('lease_costs_webhook_requests_total'),
      );
      const sum = samples
        .filter((x) => x.name === 'lease_costs_webhook_request_duration_seconds_sum')
        .reduce((n, x) => n + x.value, 0);
      expect(sum).toBeGreaterThan(0);
      expect(sum).toBeLessThan(10);
    } finally {
      await metered.close();
    }
  });
});

describe('per-source rate limit', () => {
  it('429 with Retry-After past the limit; bad keys have their own budget; a client-written X-Forwarded-For entry dodges nothing', async () => {
    const limited = buildWebhookServer({
      // The test's own loopback connection plays the load balancer that appends the real source.
      config: {
        ...stack.config,
        WEBHOOK_API_KEY: API_KEY,
        WEBHOOK_AUTH: 'api-key',
        WEBHOOK_RATE_LIMIT_PER_MINUTE: 3,
        WEBHOOK_TRUST_PROXY: ['127.0.0.1'],
      },
      client: stack.client,
      logger: silentLogger(),
    });
    const base = await listen(limited);
    try {
      const send = (event: unknown, forwardedFor: string, key = API_KEY) =>
        httpRequest(`${base}${WEBHOOK_PATH}`, {
          headers: { 'content-type': 'application/json', 'x-api-key': key, 'x-forwarded-for': forwardedFor },
          body: JSON.stringify(event),
        });
      const junk = [];
      for (let i = 0; i < 4; i++) junk.push((await send(leaseTerminatedEvent(), '203.0.113.7', 'wrong-key')).status);
      expect(junk).toEqual([401, 401, 401, 429]);

      // The genuine sender behind the same address still has its whole budget; the left-most entry,
      // which the client writes, changes on every request and does not make a new source.
      const genuine = [];
      for (let i = 0; i < 3; i++) genuine.push((await send(leaseTerminatedEvent(), `10.9.9.${i}, 203.0.113.7`)).status);
      expect(genuine).toEqual([202, 202, 202]);
      const blocked = leaseTerminatedEvent();
      const res = await send(blocked, '10.9.9.99, 203.0.113.7');
      expect(res.status).toBe(429);
      expect(res.json).toEqual({ error: expect.any(String) });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(await exists(stack.client, blocked.detail.leaseId.uuid)).toBe(false);
      // Another source is not affected, and health checks have their own budget.
      expect((await send(leaseTerminatedEvent(), '198.51.100.9')).status).toBe(202);
      expect(
        (await httpRequest(`${base}/healthz`, { method: 'GET', headers: { 'x-forwarded-for': '203.0.113.7' } })).status,
      ).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('healthz is rate limited per source too', async () => {
    const limited = buildWebhookServer({
      config: { ...stack.config, WEBHOOK_API_KEY: API_KEY, WEBHOOK_AUTH: 'api-key', WEBHOOK_RATE_LIMIT_PER_MINUTE: 2 },
      client: stack.client,
      logger: silentLogger(),
    });
    const base = await listen(limited);
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await httpRequest(`${base}/healthz`, { method: 'GET' })).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await limited.close();
    }
  });
});

describe('healthz checks what a start needs', () => {
  it('names a missing namespace, then missing search attributes, and turns 200 once they are registered', async () => {
    const serve = async (namespace: string) => {
      const server = buildWebhookServer({
        config: { ...stack.config, WEBHOOK_API_KEY: API_KEY, WEBHOOK_AUTH: 'api-key' },
        client: new Client({ connection: stack.client.connection, namespace }),
        logger: silentLogger(),
      });
      return { server, base: await listen(server) };
    };
    const ghost = await serve(`no-such-namespace-${randomUUID().slice(0, 8)}`);
    try {
      const res = await httpRequest(`${ghost.base}/healthz`, { method: 'GET' });
      expect(res.status).toBe(503);
      expect(res.json).toEqual({
        error: expect.stringContaining('does not exist'),
        missing: [expect.stringMatching(/^namespace:no-such-namespace-/)],
      });
      // Liveness does not ask Temporal: the load balancer keeps the task that also serves report links.
      const live = await httpRequest(`${ghost.base}${LIVENESS_PATH}`, { method: 'GET' });
      expect([live.status, live.json]).toEqual([200, { status: 'ok' }]);
    } finally {
      await ghost.server.close();
    }

    const namespace = `bare-${randomUUID().slice(0, 8)}`;
    await stack.client.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
    const bare = await serve(namespace);
    try {
      const res = await waitFor(
        async () => {
          const r = await httpRequest(`${bare.base}/healthz`, { method: 'GET' });
          return (r.json as { missing?: string[] })?.missing?.[0]?.startsWith('namespace:') ? undefined : r;
        },
        20_000,
        'namespace visible',
      );
      expect(res.status).toBe(503);
      expect(res.json).toEqual({
        error: expect.stringContaining('search attributes not registered'),
        missing: [
          'search-attribute:LeaseUuid(Keyword)',
          'search-attribute:AwsAccountId(Keyword)',
          'search-attribute:LeasePhase(Keyword)',
          'search-attribute:LeaseTotalCost(Double)',
        ],
      });
      // What `lease-costs worker --setup` does at start; a second start finds everything in place.
      const client = new Client({ connection: stack.client.connection, namespace });
      const settings = { ...stack.config, TEMPORAL_NAMESPACE: namespace };
      const first = await setUpNamespace(client, settings);
      expect(first).toMatchObject({
        searchAttributesAdded: ['LeaseUuid', 'AwsAccountId', 'LeasePhase', 'LeaseTotalCost'],
        schedule: { scheduleId: RECONCILE_SCHEDULE_ID, outcome: 'created' },
      });
      const again = await waitFor(
        async () => {
          const r = await setUpNamespace(client, settings);
          return r.searchAttributesAdded.length === 0 ? r : undefined;
        },
        20_000,
        'search attributes visible',
      );
      expect(again.schedule.outcome).toBe('updated');
      const schedule = await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
      expect(schedule.spec.intervals).toEqual([
        { every: settings.RECONCILE_INTERVAL_MINUTES * 60_000, offset: undefined },
      ]);
      const ok = await waitFor(
        async () => {
          const r = await httpRequest(`${bare.base}/healthz`, { method: 'GET' });
          return r.status === 200 ? r : undefined;
        },
        20_000,
        'healthz 200 after registration',
      );
      expect(ok.json).toEqual({ status: 'ok' });
    } finally {
      await bare.server.close();
    }
  });
});

describe('webhook while Temporal is down', () => {
  let server: DevServer | undefined;
  let port: number;
  let webhook: RunningWebhook;

  beforeAll(async () => {
    port = await freePort();
    server = await startTemporalDevServer({ port, uiPort: false });
    // The production wiring (lazy connection, its connect timeout, the SDK's retrying interceptor).
    webhook = await runWebhook(
      {
        ...stack.config,
        TEMPORAL_ADDRESS: server.address,
        WEBHOOK_PORT: 0,
        WEBHOOK_API_KEY: API_KEY,
        WEBHOOK_AUTH: 'api-key',
      },
      silentLogger(),
      { host: '127.0.0.1' },
    );
  });
  afterAll(async () => {
    await webhook?.close();
    await server?.stop();
  });

  // Its waits (three 503s in turn, 5 s each at most; Temporal's return, 60 s; healthz, 10 s) take
  // more than the default 60 s.
  it('answers 503 within 5 s every time and healthz 503 within 2 s once the server is SIGKILLed; the redelivery after it returns is 202', async () => {
    const send = async (event: unknown) => {
      const t0 = Date.now();
      const res = await httpRequest(`${webhook.address}${WEBHOOK_PATH}`, {
        headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
        body: JSON.stringify(event),
      });
      return { ...res, ms: Date.now() - t0 };
    };
    const health = async () => {
      const t0 = Date.now();
      const res = await httpRequest(`${webhook.address}/healthz`, { method: 'GET' });
      return { status: res.status, ms: Date.now() - t0 };
    };
    expect((await send(leaseTerminatedEvent())).status).toBe(202);
    expect((await health()).status).toBe(200);

    process.kill(-server!.process.pid!, 'SIGKILL');
    await server!.stop();
    server = undefined;
    const event = leaseTerminatedEvent();
    const sequential = [];
    for (let i = 0; i < 3; i++) sequential.push(await send(event));
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => send(leaseTerminatedEvent())));
    for (const res of [...sequential, ...concurrent]) {
      expect(res.status).toBe(503);
      expect(res.json).toEqual({ error: expect.any(String) });
      expect(res.headers['retry-after']).toBeDefined();
      expect(res.ms).toBeLessThan(5_000);
    }
    const healths = [];
    for (let i = 0; i < 3; i++) {
      healths.push(await health());
      await new Promise((r) => setTimeout(r, 1_100)); // past the one-second cache
    }
    for (const h of healths) {
      expect(h.status).toBe(503);
      expect(h.ms).toBeLessThan(2_000);
    }
    expect((await httpRequest(`${webhook.address}${LIVENESS_PATH}`, { method: 'GET' })).status).toBe(200);
    console.log(
      `Temporal killed: webhook 503 in ${[...sequential, ...concurrent].map((r) => r.ms).join(', ')} ms; healthz 503 in ${healths.map((h) => h.ms).join(', ')} ms`,
    );

    server = await startTemporalDevServer({ port, uiPort: false });
    // EventBridge keeps redelivering; the webhook's connection recovers on its own.
    const back = await waitFor(
      async () => {
        const res = await send(event);
        return res.status === 503 ? undefined : res;
      },
      60_000,
      'Temporal back',
    );
    expect(back.status).toBe(202);
    expect(back.json).toMatchObject({ workflowId: workflowIdFor(event.detail.leaseId.uuid), status: 'started' });
    const healthy = await waitFor(
      async () => ((await health()).status === 200 ? true : undefined),
      10_000,
      'healthz 200',
    );
    expect(healthy).toBe(true);
  }, 120_000);
});
