import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startFakeCostExplorer } from '../../support/fakes/cost-explorer';
import { startFakeIsbApi } from '../../support/fakes/isb-api';
import { freePort } from '../../support/ports';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { spawnManaged, type ManagedProcess } from '../../support/tools';
import { WEBHOOK_PATH } from '../../src/interfaces/webhook-server';
import { awsEnvFor, createBucket, createEventCapture } from '../../support/aws';
import { jsonFilterPattern } from '../helpers/cloudwatch-filter';
import { leaseTerminatedEvent } from '../../support/events';
import { httpRequest } from '../helpers/http';
import { dailyCosts, ROLE_ARN } from '../helpers/stack';
import { testClient, uniqueTaskQueue } from '../helpers/temporal';
import { resourcesOf, synthesize } from '../infra/synth';
import { waitFor } from '../helpers/wait';
import { builtBin, workflowBundleEnv } from '../helpers/cli';

// Every long-running process logs through the same pino setup: one JSON object per line with
// `level` as a word, an ISO `time` and `msg`; secrets given to the process never reach its output.

const WEBHOOK_KEY = `webhook-key-${randomBytes(8).toString('hex')}`;
const JWT_SECRET = `jwt-secret-${randomBytes(8).toString('hex')}`;
const ENCRYPTION_KEY = randomBytes(32).toString('base64');
const SECRETS = [WEBHOOK_KEY, JWT_SECRET, ENCRYPTION_KEY];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const running: ManagedProcess[] = [];
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await Promise.all(cleanups.map((c) => c()));
});
/** Where the worker's captured lines go, for a person to read next to the alarm's pattern. */
const WORKER_LINES = join(import.meta.dirname, '..', '..', 'test-output', 'worker-log-lines.jsonl');

/** Starts `lease-costs <command>` with stdout not a TTY (so JSON) and collects what it prints. */
function start(command: string, env: Record<string, string>) {
  const proc = spawnManaged(process.execPath, [builtBin(), command], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      LOG_LEVEL: 'debug',
      ...workflowBundleEnv(),
      ...env,
    },
  });
  running.push(proc);
  const out = { stdout: '', stderr: '' };
  proc.process.stdout!.on('data', (c: Buffer) => void (out.stdout += c.toString()));
  proc.process.stderr!.on('data', (c: Buffer) => void (out.stderr += c.toString()));
  // A process that exits first (a refused configuration, say) fails the test at once, with its output.
  const started = (msg: string) =>
    Promise.race([
      waitFor(
        async () => (out.stdout.includes(`"msg":"${msg}"`) ? true : undefined),
        60_000,
        `${command}: ${msg}\n${proc.outputTail()}`,
      ),
      proc.exited.then((code) => {
        throw new Error(`${command} exited (${code}) before "${msg}":\n${proc.outputTail()}`);
      }),
    ]);
  const stop = async () => {
    await proc.stop();
    return out;
  };
  return { started, stop };
}

function expectOneFormat(name: string, { stdout, stderr }: { stdout: string; stderr: string }) {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length, `${name} printed nothing`).toBeGreaterThan(1);
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(entry).slice(0, 2), `${name}: ${line}`).toEqual(['level', 'time']);
    expect(LEVELS, `${name}: ${line}`).toContain(entry.level);
    expect(new Date(String(entry.time)).toISOString(), `${name}: ${line}`).toBe(entry.time);
    expect(typeof entry.msg, `${name}: ${line}`).toBe('string');
  }
  for (const secret of SECRETS) expect(stdout + stderr, `${name} printed a secret`).not.toContain(secret);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('one log format for every process', () => {
  // Longer than the default: three processes, a workflow bundle at the worker's start, two leases and a CDK synthesis.
  it("webhook, codec endpoint and worker all print pino JSON lines, and no secret; the stack's metric filters match the worker's real lines", async () => {
    const temporalAddress = inject('temporalAddress');
    const motoEndpoint = inject('motoEndpoint');
    // The worker runs real leases against the stand-ins: one the ISB API does not know (fails for
    // good), one that is published.
    const [ce, isb] = await Promise.all([startFakeCostExplorer(), startFakeIsbApi({ jwtSecret: JWT_SECRET })]);
    cleanups.push(
      () => ce.close(),
      () => isb.close(),
    );
    const id = randomBytes(4).toString('hex');
    const [bucket, busName] = [`log-format-${id}`, `log-format-${id}`];
    await createBucket(motoEndpoint, bucket);
    const bus = await createEventCapture(motoEndpoint, { busName });
    cleanups.push(() => bus.close());
    const taskQueue = uniqueTaskQueue('logs');
    const [webhookPort, codecPort] = [await freePort(), await freePort()];
    const webhook = start('webhook', {
      TEMPORAL_ADDRESS: temporalAddress,
      WEBHOOK_PORT: String(webhookPort),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_API_KEY: WEBHOOK_KEY,
    });
    const codec = start('codec-server', {
      PAYLOAD_ENCRYPTION_KEYS: `k1:${ENCRYPTION_KEY}`,
      CODEC_PORT: String(codecPort),
    });
    const worker = start('worker', {
      ...awsEnvFor(motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: ce.endpoint }),
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      COST_EXPLORER_ROLE_ARN: ROLE_ARN,
      S3_BUCKET_NAME: bucket,
      S3_KEY_PREFIX: 'reports/',
      EVENT_BUS_NAME: busName,
      ISB_API_BASE_URL: isb.endpoint,
      ISB_JWT_SECRET: JWT_SECRET,
      WEBHOOK_API_KEY: WEBHOOK_KEY,
      LEDGER_ENABLED: 'false',
    });
    await Promise.all([
      webhook.started('webhook listening'),
      codec.started('codec endpoint listening'),
      worker.started('Worker started'),
    ]);

    // Requests carrying the key, a wrong key and the key inside the body.
    const url = `http://127.0.0.1:${webhookPort}${WEBHOOK_PATH}`;
    const event = leaseTerminatedEvent();
    const bad = await httpRequest(url, {
      headers: { 'content-type': 'application/json', 'x-api-key': WEBHOOK_KEY },
      body: JSON.stringify({ ...event, detail: { secret: WEBHOOK_KEY } }),
    });
    expect(bad.status).toBe(400);
    const denied = await httpRequest(url, {
      headers: {
        'content-type': 'application/json',
        'x-api-key': `${WEBHOOK_KEY}x`,
        authorization: `Bearer ${JWT_SECRET}`,
      },
      body: JSON.stringify(event),
    });
    expect(denied.status).toBe(401);
    const garbage = await httpRequest(`http://127.0.0.1:${codecPort}/decode`, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${JWT_SECRET}` },
      body: JSON.stringify({ payloads: [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }, data: 'AAAA' }] }),
    });
    expect(garbage.status).toBe(400);

    const webhookLines = expectOneFormat('webhook', await webhook.stop());
    expect(webhookLines.filter((e) => e.msg === 'request').map((e) => e.status)).toEqual(
      expect.arrayContaining([400, 401]),
    );
    expect(webhookLines.some((e) => e.msg === 'shutting down')).toBe(true);
    expectOneFormat('codec-server', await codec.stop());
    const client = testClient(temporalAddress);
    const lease = () => ({
      leaseUuid: randomUUID(),
      userEmail: `user-${id}@example.gov.uk`,
      accountId: '210987654321',
      terminatedAt: new Date(Date.now() - 3600_000).toISOString(),
      paddingHours: 1,
      rerunWindowHours: 0,
    });
    const [failing, published] = [lease(), lease()];
    const startDate = new Date(Date.now() - 3 * 24 * 3600_000).toISOString();
    isb.addLease({
      uuid: published.leaseUuid,
      userEmail: published.userEmail,
      accountId: published.accountId,
      startDate,
      endDate: published.terminatedAt,
      status: 'Expired',
    });
    ce.addCosts(
      dailyCosts({
        accountId: published.accountId,
        start: startDate.slice(0, 10),
        end: new Date().toISOString().slice(0, 10),
        service: 'AWS Lambda',
        resourceId: 'fn',
        region: 'eu-west-2',
        amount: '0.25',
      }),
    );
    await Promise.all([failing, published].map((l) => startLeaseCosts(client, taskQueue, l)));
    const outcome = (l: { leaseUuid: string }) =>
      client.workflow
        .getHandle(workflowIdFor(l.leaseUuid))
        .result()
        .then(
          () => 'published',
          (e: unknown) => e,
        );
    const [failed, done] = await Promise.all([outcome(failing), outcome(published)]);
    expect(failed).toBeInstanceOf(WorkflowFailedError);
    expect(done).toBe('published');

    const workerOut = await worker.stop();
    const workerLines = expectOneFormat('worker', workerOut);
    // The SDK's own lines (worker state changes) come through the same logger.
    expect(workerLines.some((e) => e.sdkComponent === 'worker')).toBe(true);
    const raw = workerOut.stdout.split('\n').filter((l) => l.trim() !== '');
    await mkdir(join(WORKER_LINES, '..'), { recursive: true });
    await writeFile(WORKER_LINES, `${raw.join('\n')}\n`);

    // Every metric filter of the hub stack, read as CloudWatch reads it, against these lines.
    const { hub } = synthesize({}, { nag: false });
    const filters = resourcesOf(hub, 'AWS::Logs::MetricFilter').map(([, p]) => ({
      name: p.MetricTransformations[0].MetricName as string,
      matches: jsonFilterPattern(p.FilterPattern as string),
    }));
    expect(filters.map((f) => f.name)).toEqual(['FailedRuns']);
    const matched = (name: string) =>
      raw.filter(filters.find((f) => f.name === name)!.matches).map((l) => JSON.parse(l) as Record<string, unknown>);
    // Exactly one line for the failed run, none for the published one: the alarm counts failed runs.
    expect(matched('FailedRuns').map((e) => e.workflowId)).toEqual([workflowIdFor(failing.leaseUuid)]);
  }, 120_000);
});
