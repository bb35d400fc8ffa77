import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  GetObjectAttributesCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startTemporalDevServer } from '../../support/dev-server';
import { freePort } from '../../support/ports';
import { spawnManaged } from '../../support/tools';
import { LeaseUuidKey, SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { clientConfig, createBucket, createEventCapture } from '../../support/aws';
import { Worker } from '@temporalio/worker';
import {
  runWorkerUntil,
  startTimeSkippingEnv,
  testClient,
  uniqueTaskQueue,
  workerOptionsBase,
} from '../helpers/temporal';

// temporal.api.enums.v1.IndexedValueType
const INDEXED_VALUE_TYPE = { Keyword: 2, Double: 4 } as const;

async function listWorkflowIds(client: Client, query: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const wf of client.workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
}

describe('shared Temporal dev server', () => {
  it('answers and has our search attributes registered with the right types', async () => {
    const client = testClient();
    const info = await client.connection.workflowService.getSystemInfo({});
    expect(info.serverVersion).toBeTruthy();
    const { customAttributes } = await client.connection.operatorService.listSearchAttributes({ namespace: 'default' });
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      expect(customAttributes?.[name], name).toBe(INDEXED_VALUE_TYPE[type]);
    }
  });

  it('refuses a port that is taken instead of mistaking the other server for its own', async () => {
    const taken = Number(inject('temporalAddress').split(':')[1]);
    await expect(startTemporalDevServer({ port: taken, uiPort: false })).rejects.toThrow(/already in use/);
  });

  it('rejects with the server output when the process exits early', async () => {
    const started = Date.now();
    await expect(
      startTemporalDevServer({ uiPort: false, logLevel: 'no-such-level', readyTimeoutMs: 20_000 }),
    ).rejects.toThrow(/exited early[\s\S]*no-such-level/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe('dev server with a SQLite file', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lease-costs-devserver-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps a running workflow across a restart on the same port', async () => {
    const dbFile = join(dir, 'nested', 'temporal.sqlite');
    const port = await freePort();
    const workflowId = `infra-persist-${Date.now()}`;
    const leaseUuid = `lease-${Date.now()}`;

    let t0 = Date.now();
    let server = await startTemporalDevServer({ port, uiPort: false, dbFile });
    console.info(`[infra] dev server (sqlite, fresh) ready in ${Date.now() - t0} ms`);
    try {
      const connection = await Connection.connect({ address: server.address });
      const client = new Client({ connection });
      // No worker polls this queue: the workflow just stays running.
      await client.workflow.start('noWorkerForThisType', {
        taskQueue: uniqueTaskQueue('infra-persist'),
        workflowId,
        typedSearchAttributes: [{ key: LeaseUuidKey, value: leaseUuid }],
      });
      await connection.close();
    } finally {
      t0 = Date.now();
      await server.stop();
      console.info(`[infra] dev server stopped in ${Date.now() - t0} ms`);
    }
    expect(server.process.exitCode !== null || server.process.signalCode !== null).toBe(true);

    t0 = Date.now();
    server = await startTemporalDevServer({ port, uiPort: false, dbFile });
    console.info(`[infra] dev server (sqlite, existing db) ready in ${Date.now() - t0} ms`);
    try {
      const connection = await Connection.connect({ address: server.address });
      const client = new Client({ connection });
      const desc = await client.workflow.getHandle(workflowId).describe();
      expect(desc.status.name).toBe('RUNNING');
      expect(await listWorkflowIds(client, `LeaseUuid = '${leaseUuid}'`)).toEqual([workflowId]);
      await client.workflow.getHandle(workflowId).terminate('test done');
      await connection.close();
    } finally {
      await server.stop();
    }
  });

  it('serves the Web UI when asked', async () => {
    const server = await startTemporalDevServer({ dbFile: join(dir, 'ui.sqlite') });
    try {
      expect(server.uiUrl).toBe(`http://127.0.0.1:${server.uiPort}`);
      const res = await fetch(server.uiUrl!);
      await res.arrayBuffer();
      expect(res.status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('moto', () => {
  const endpoint = inject('motoEndpoint');
  const bucket = `infra-${process.pid}`;
  let s3: S3Client;
  beforeAll(async () => {
    await createBucket(endpoint, bucket);
    s3 = new S3Client(clientConfig(endpoint));
  });
  afterAll(() => s3.destroy());

  it('stores a SHA-256 checksum when ChecksumAlgorithm is SHA256, readable by HeadObject and GetObjectAttributes', async () => {
    const body = 'Resource Name,Service,Region,Cost\ni-1,EC2,us-east-1,0.0000000007\n';
    const sha256 = createHash('sha256').update(body).digest('base64');
    const put = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'reports/a.csv', Body: body, ChecksumAlgorithm: 'SHA256' }),
    );
    expect(put.ChecksumSHA256).toBe(sha256);

    const head = await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'reports/a.csv', ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumSHA256).toBe(sha256);

    const attrs = await s3.send(
      new GetObjectAttributesCommand({ Bucket: bucket, Key: 'reports/a.csv', ObjectAttributes: ['Checksum'] }),
    );
    expect(attrs.Checksum?.ChecksumSHA256).toBe(sha256);

    const get = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'reports/a.csv', ChecksumMode: 'ENABLED' }));
    expect(get.ChecksumSHA256).toBe(sha256);
    expect(await get.Body?.transformToString()).toBe(body);
  });

  // Documents moto 5.2.5 gaps, so app tests do not rely on them (real S3 differs on both).
  it('moto: a precomputed ChecksumSHA256 alone is not stored, and a wrong one is not rejected', async () => {
    const body = 'x';
    const sha256 = createHash('sha256').update(body).digest('base64');
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'reports/b.csv', Body: body, ChecksumSHA256: sha256 }));
    const head = await s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'reports/b.csv', ChecksumMode: 'ENABLED' }),
    );
    expect(head.ChecksumSHA256).toBeUndefined();

    const wrong = 'A'.repeat(43) + '=';
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: 'reports/c.csv',
        Body: body,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: wrong,
      }),
    );
    expect(put.ChecksumSHA256).toBe(wrong);
  });

  it('serves presigned GET URLs', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'reports/p.csv', Body: 'a,b\n' }));
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: bucket, Key: 'reports/p.csv' }), {
      expiresIn: 3600,
    });
    expect(url.startsWith(`${endpoint}/${bucket}/reports/p.csv?`)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('a,b\n');
  });

  it('delivers matching PutEvents to the SQS capture queue, and only those', async () => {
    const busName = `infra-bus-${process.pid}`;
    // A detail-type of no contract: this checks the plumbing, not an event of ours.
    const capture = await createEventCapture(endpoint, { busName, detailType: 'CaptureProbe' });
    const events = new EventBridgeClient(clientConfig(endpoint));
    try {
      const detail = { leaseId: 'abc', totalCost: 1.25, exactTotal: '1.2500000001' };
      const res = await events.send(
        new PutEventsCommand({
          Entries: [
            { EventBusName: busName, Source: 'isb-costs', DetailType: 'CaptureProbe', Detail: JSON.stringify(detail) },
            { EventBusName: busName, Source: 'isb-costs', DetailType: 'SomethingElse', Detail: '{}' },
            { EventBusName: busName, Source: 'other', DetailType: 'CaptureProbe', Detail: '{}' },
          ],
        }),
      );
      expect(res.FailedEntryCount).toBe(0);

      const received = await capture.receiveAll(500);
      expect(received).toHaveLength(1);
      expect(received[0]).toMatchObject({
        source: 'isb-costs',
        'detail-type': 'CaptureProbe',
        region: 'us-east-1',
        detail,
      });
      expect(received[0]?.id).toBe(res.Entries?.[0]?.EventId);
      // Drained: nothing left.
      expect(await capture.receiveAll(200)).toEqual([]);
    } finally {
      events.destroy();
      capture.close();
    }
  });
});

describe('workflow bundle', () => {
  it.skipIf(!inject('workflowBundlePath'))('loads into a worker on the shared server', async () => {
    const worker = await Worker.create({ ...(await workerOptionsBase()), taskQueue: uniqueTaskQueue('infra-bundle') });
    expect(await runWorkerUntil(worker, () => new Promise((r) => setTimeout(() => r('ran'), 200)))).toBe('ran');
  });
});

describe('time-skipping test server', () => {
  it('starts from the local binary, skips time and tears down', async () => {
    const t0 = Date.now();
    const env = await startTimeSkippingEnv();
    console.info(`[infra] time-skipping env ready in ${Date.now() - t0} ms`);
    try {
      expect(env.supportsTimeSkipping).toBe(true);
      const before = await env.currentTimeMs();
      await env.sleep('2 days');
      const after = await env.currentTimeMs();
      expect(after - before).toBeGreaterThanOrEqual(2 * 24 * 3600 * 1000);
    } finally {
      await env.teardown();
    }
  });
});

describe('managed processes', () => {
  it('keep the start of a long output for error messages, where a Go panic says what went wrong', async () => {
    const script =
      "console.error('panic: listen tcp 127.0.0.1:1: bind: address already in use'); console.error('goroutine dump '.repeat(2000)); console.error('the end'); process.exit(2)";
    const proc = spawnManaged(process.execPath, ['-e', script]);
    expect(await proc.exited).toBe(2);
    const text = proc.outputTail();
    expect(text).toMatch(/^panic: listen tcp 127\.0\.0\.1:1: bind: address already in use\n/);
    expect(text).toMatch(/\n\[…\]\n/);
    expect(text).toMatch(/the end$/);
    expect(text.length).toBeLessThan(12_000);
  });
});
