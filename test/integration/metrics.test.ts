import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { freePort } from '../../support/ports';
import type { LeaseStatus } from '../../src/domain/schemas';
import { awsEnvFor } from '../../support/aws';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { builtBin, workflowBundleEnv } from '../helpers/cli';

const DAY = 24 * 3600_000;

let stack: Stack;
let worker: ChildProcess;
let metricsUrl: string;
const stdoutLines: string[] = [];
let stderr = '';

/** Prometheus text format → samples; enough for the exporter's output (no escaped quotes in our labels). */
function parseMetrics(text: string) {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

beforeAll(async () => {
  // Many small pages and a lease older than the 14-day resource horizon: both APIs, several calls.
  stack = await startStack({ ce: { pageSize: 1 } });
  const port = await freePort();
  metricsUrl = `http://127.0.0.1:${port}/metrics`;
  const c = stack.config;
  worker = spawn(process.execPath, [builtBin(), 'worker'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...awsEnvFor(stack.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint }),
      TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS,
      TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
      COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!,
      S3_BUCKET_NAME: c.S3_BUCKET_NAME!,
      S3_KEY_PREFIX: c.S3_KEY_PREFIX,
      EVENT_BUS_NAME: c.EVENT_BUS_NAME!,
      ISB_API_BASE_URL: c.ISB_API_BASE_URL!,
      ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH!,
      DATABASE_URL: c.DATABASE_URL!,
      METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
      LOG_LEVEL: 'INFO',
      ...workflowBundleEnv(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let partial = '';
  worker.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop()!;
    stdoutLines.push(...lines.filter((l) => l.trim() !== ''));
  });
  worker.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
  const exitedEarly = once(worker, 'exit').then(([code]) => {
    throw new Error(`worker exited with ${code}: ${stderr}`);
  });
  await Promise.race([
    exitedEarly,
    waitFor(
      async () => (stdoutLines.some((l) => l.includes('"msg":"Worker started"')) ? true : undefined),
      60_000,
      'the worker to start',
    ),
  ]);
});

afterAll(async () => {
  // Normally the last test has stopped it already; this only cleans up after a failure.
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    const exited = once(worker, 'exit');
    worker.kill('SIGTERM');
    const timer = setTimeout(() => worker.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  await stack?.stop();
});

describe('observability of a worker process', () => {
  it('serves Temporal SDK metrics and our business metrics on METRICS_BIND_ADDRESS, and logs JSON lines', async () => {
    const lease = {
      uuid: randomUUID(),
      userEmail: `metrics-${randomUUID().slice(0, 6)}@example.gov.uk`,
      accountId: '314159265358',
    };
    const now = Date.now();
    const startDate = new Date(now - 16 * DAY).toISOString();
    stack.isb.addLease({ ...lease, startDate, status: 'Expired' });
    for (const [service, name, amount] of [
      ['AWS Lambda', 'function:f', '0.125'],
      ['Amazon DynamoDB', 'table/t', '1.0000000003'],
    ] as const) {
      const resourceId = `arn:aws:${service === 'AWS Lambda' ? 'lambda' : 'dynamodb'}:eu-west-2:${lease.accountId}:${name}`;
      stack.ce.addCosts(
        dailyCosts({
          accountId: lease.accountId,
          start: startDate.slice(0, 10),
          end: new Date(now + 2 * DAY).toISOString().slice(0, 10),
          service,
          resourceId,
          region: 'eu-west-2',
          amount,
        }),
      );
    }
    const started = await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      terminatedAt: new Date(now - 3600_000 + 1000).toISOString(),
      paddingHours: 1,
      rerunWindowHours: 0,
    });
    expect(started.status).toBe('started');
    const handle = stack.client.workflow.getHandle(workflowIdFor(lease.uuid));
    const status = await waitFor(
      async () => {
        const s = await handle.query<LeaseStatus>('status');
        return s.phase === 'published' ? s : undefined;
      },
      // A correctness wait, not a speed claim: the whole test took 16–28 s in fresh CI runs here,
      // and once, on a slow run, the report took longer than 30 s.
      90_000,
      'the report to be published',
    );
    const report = status.reports.at(-1)!;
    // The run closes right after publishing (no re-run window); its completion is an SDK metric too.
    await handle.result();

    const res = await fetch(metricsUrl);
    expect(res.status).toBe(200);
    const samples = parseMetrics(await res.text());
    const names = new Set(samples.map((s) => s.name));
    // Cost Explorer pages run on the lease queue's `-cost-explorer` sibling.
    const ours = (name: string) =>
      samples.filter((s) => s.name === name && s.labels.taskQueue?.startsWith(stack.config.TEMPORAL_TASK_QUEUE));

    // The SDK's own metrics, from the same endpoint.
    const completed = samples.filter(
      (s) => s.name === 'temporal_workflow_completed' && s.labels.task_queue === stack.config.TEMPORAL_TASK_QUEUE,
    );
    expect(Object.fromEntries(completed.map((s) => [s.labels.workflow_type, s.value]))).toEqual({
      leaseCostsWorkflow: 1,
      collectCostsWorkflow: 1,
    });
    expect(names).toContain('temporal_activity_execution_latency_count');
    expect(names).toContain('temporal_request');

    // Cost Explorer calls, per API, agree with what the fake received.
    const calls = ours('lease_costs_cost_explorer_calls_total');
    const callsTo = (api: string) => calls.filter((s) => s.labels.api === api).reduce((n, s) => n + s.value, 0);
    const fakeCalls = (op: string) => stack.ce.calls.filter((c) => c.operation === op).length;
    expect(fakeCalls('GetCostAndUsage')).toBeGreaterThan(0);
    expect(fakeCalls('GetCostAndUsageWithResources')).toBeGreaterThan(1);
    expect(callsTo('GetCostAndUsage')).toBe(fakeCalls('GetCostAndUsage'));
    expect(callsTo('GetCostAndUsageWithResources')).toBe(fakeCalls('GetCostAndUsageWithResources'));
    expect(calls.every((s) => s.labels.activityType === 'collectCostsPage')).toBe(true);

    // Prometheus conventions: counters end in _total, durations are seconds, no last-writer gauge.
    const ourNames = [...names].filter((n) => n.startsWith('lease_costs_'));
    expect(ourNames.filter((n) => !/_(total|bucket|sum|count)$/.test(n))).toEqual([]);
    expect(ourNames.some((n) => /_ms(_|$)|millis/.test(n))).toBe(false);
    // One collection, one report: histogram counts of 1, sums equal to the report.
    expect(ours('lease_costs_collection_duration_seconds_count').map((s) => s.value)).toEqual([1]);
    const seconds = ours('lease_costs_collection_duration_seconds_sum')[0]!.value;
    expect(seconds).toBeGreaterThan(0);
    // Seconds, not milliseconds: the whole run took well under a minute.
    expect(seconds).toBeLessThan(60);
    expect(ours('lease_costs_collection_duration_seconds_bucket').map((s) => s.labels.le)).toContain('0.5');
    expect(ours('lease_costs_report_rows_count').map((s) => s.value)).toEqual([1]);
    expect(ours('lease_costs_report_rows_sum').map((s) => s.value)).toEqual([report.rowCount]);
    expect(report.rowCount).toBeGreaterThan(1);
    expect(ours('lease_costs_report_cost_usd_count').map((s) => s.value)).toEqual([1]);
    const reported = ours('lease_costs_report_cost_usd_sum');
    expect(reported).toHaveLength(1);
    expect(reported[0]!.value).toBeCloseTo(Number(report.total), 6);

    // Every stdout line is one pino JSON object; the run's own lines carry its workflow and lease ids.
    const entries = await waitFor(
      async () => {
        const parsed = stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>);
        return parsed.some((e) => e.msg === 'Report written') ? parsed : undefined;
      },
      5_000,
      'the "Report written" log line',
    );
    for (const e of entries) {
      expect(Object.keys(e).slice(0, 2)).toEqual(['level', 'time']);
      expect(typeof e.msg).toBe('string');
    }
    // The lease's run and its collection child (`…-collect-v1`).
    const ofRun = entries.filter((e) => String(e.workflowId).startsWith(workflowIdFor(lease.uuid)));
    expect(ofRun.map((e) => e.msg)).toEqual(
      expect.arrayContaining(['Collecting costs', 'Costs collected', 'Report written']),
    );
    expect(ofRun.find((e) => e.msg === 'Report written')).toMatchObject({
      level: 'info',
      leaseUuid: lease.uuid,
      rowCount: report.rowCount,
      total: report.total,
    });
    expect(ofRun.every((e) => !('taskToken' in e))).toBe(true);
  }, 120_000);

  it('a refused resource query: counted by error name and logged, the report published at service level', async () => {
    const lease = {
      uuid: randomUUID(),
      userEmail: `metrics-${randomUUID().slice(0, 6)}@example.gov.uk`,
      accountId: '271828182845',
    };
    const now = Date.now();
    const startDate = new Date(now - 3 * DAY).toISOString();
    stack.isb.addLease({ ...lease, startDate, status: 'Expired' });
    stack.ce.addCosts(
      dailyCosts({
        accountId: lease.accountId,
        start: startDate.slice(0, 10),
        end: new Date(now + DAY).toISOString().slice(0, 10),
        service: 'AWS Glue',
        resourceId: 'job-1',
        region: 'eu-west-2',
        amount: '0.5',
      }),
    );
    stack.ce.failAt({ operation: 'GetCostAndUsageWithResources', status: 400, code: 'AccessDeniedException' });
    try {
      await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
        leaseUuid: lease.uuid,
        userEmail: lease.userEmail,
        accountId: lease.accountId,
        terminatedAt: new Date(now - 3600_000 + 1000).toISOString(),
        paddingHours: 1,
        rerunWindowHours: 0,
      });
      const result = (await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).result()) as {
        resourceLevel: string;
      };
      expect(result.resourceLevel).toBe('unavailable');
    } finally {
      stack.ce.resetFaults();
    }
    const refusals = parseMetrics(await (await fetch(metricsUrl)).text()).filter(
      (s) => s.name === 'lease_costs_resource_level_refusals_total',
    );
    expect(refusals.map((s) => [s.labels.error, s.value])).toEqual([['AccessDeniedException', 1]]);
    const line = await waitFor(
      async () =>
        stdoutLines
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((e) => e.leaseUuid === lease.uuid && String(e.msg).startsWith('Resource-level data refused')),
      5_000,
      'the refusal log line',
    );
    expect(line).toMatchObject({ level: 'warn', error: 'AccessDeniedException' });
  });

  it('exits 0 within a few seconds of SIGTERM', async () => {
    const exited = once(worker, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const t0 = Date.now();
    worker.kill('SIGTERM');
    const [code, signal] = await exited;
    expect(signal).toBeNull();
    expect(code, stderr).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
  });
});
