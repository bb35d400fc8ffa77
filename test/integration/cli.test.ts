import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import Decimal from 'decimal.js';
import { createServer, type AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectClient, startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseStatus } from '../../src/domain/schemas';
import { freePort } from '../../support/ports';
import { awsEnvFor } from '../../support/aws';
import { runCli } from '../helpers/cli';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

// Every command as an operator runs it: the real CLI process against the whole local stack, with
// encrypted payloads as in production.
const HOUR = 3600_000;
const newKey = (id: string) => `${id}:${randomBytes(32).toString('base64')}`;
const KEYS = newKey('ops');
let stack: Stack;
let client: Client;
let cliEnv: Record<string, string>;

beforeAll(async () => {
  stack = await startStack({ env: { PAYLOAD_ENCRYPTION_KEYS: KEYS } });
  await stack.startWorker();
  client = await connectClient(stack.config);
  // No S3_BUCKET_NAME: the bucket in `status` must come from the run's own record.
  cliEnv = {
    TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE,
    PAYLOAD_ENCRYPTION_KEYS: KEYS,
  };
});
afterAll(async () => {
  await client?.connection.close();
  await stack?.stop();
});

async function startLease(opts: { settleInMs: number; rerunWindowHours?: number }) {
  const l = {
    uuid: randomUUID(),
    userEmail: `cli-${randomUUID().slice(0, 6)}@example.gov.uk`,
    accountId: `${Math.floor(1e11 + Math.random() * 8e11)}`,
  };
  const now = Date.now();
  const startDate = new Date(now - 2 * 24 * HOUR).toISOString();
  stack.isb.addLease({ ...l, startDate, status: 'Expired' });
  stack.ce.addCosts(
    dailyCosts({
      accountId: l.accountId,
      start: startDate.slice(0, 10),
      end: new Date(now + 2 * 24 * HOUR).toISOString().slice(0, 10),
      service: 'AWS Lambda',
      resourceId: `arn:aws:lambda:eu-west-2:${l.accountId}:function:f`,
      region: 'eu-west-2',
      amount: '0.125',
    }),
  );
  await startLeaseCosts(client, stack.config.TEMPORAL_TASK_QUEUE, {
    leaseUuid: l.uuid,
    userEmail: l.userEmail,
    accountId: l.accountId,
    terminatedAt: new Date(now - HOUR + opts.settleInMs).toISOString(),
    paddingHours: 1,
    rerunWindowHours: opts.rerunWindowHours ?? 0,
  });
  return l;
}

const statusOf = (uuid: string) => client.workflow.getHandle(workflowIdFor(uuid)).query<LeaseStatus>('status');
const inPhase = (uuid: string, phase: string, version = 1) =>
  waitFor(async () => {
    const s = await statusOf(uuid);
    return s.phase === phase && s.currentVersion === version ? s : undefined;
  });

/** An expected failure: one line on stderr, no stack trace, nothing on stdout. */
function expectOneLineFailure(res: { code: number; stdout: string; stderr: string }, code: number, text: RegExp) {
  expect(res.code, res.stderr).toBe(code);
  expect(res.stderr.trim().split('\n'), res.stderr).toHaveLength(1);
  expect(res.stderr).toMatch(text);
  expect(res.stderr).not.toMatch(/\n\s+at /);
  expect(res.stdout).toBe('');
}

describe('lease-costs CLI, run as a process', () => {
  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const res = await runCli(['--version'], {});
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(version);
  });

  it('bad arguments exit 2 with one line each', async () => {
    expectOneLineFailure(await runCli(['status', 'not-a-uuid'], cliEnv), 2, /must be a lease uuid/);
    expectOneLineFailure(
      await runCli(['rerun', randomUUID(), '--padding-hours', '500'], cliEnv),
      2,
      /must be an integer 0\.\.168/,
    );
    expectOneLineFailure(await runCli(['no-such-command'], cliEnv), 2, /unknown command 'no-such-command'/);
    expectOneLineFailure(await runCli(['status'], cliEnv), 2, /missing required argument 'lease-uuid'/);
  });

  it('status answers in well under a second, with a copyable s3:// location; collect-now, then nothing to do', async () => {
    const l = await startLease({ settleInMs: HOUR });
    await inPhase(l.uuid, 'waiting');
    const waiting = await runCli(['status', l.uuid], cliEnv);
    expect(waiting.code, waiting.stderr).toBe(0);
    expect(waiting.stdout).toMatch(/phase\s+waiting/);
    // Nothing may keep the process alive after its answer: a handle left open holds it for its
    // whole timeout (a query timer did, for 10 s). What runs after the answer is the connection's
    // close and Node's exit, which writes the compile cache of modules compiled this run: 15-60 ms
    // on an idle machine, 757 ms seen with the whole suite on 2 cores. The whole run is mostly
    // Node and SDK start-up: about 0.6 s alone, 2.3 s with the suite running in parallel.
    const { answerMs, exitMs } = waiting.timing;
    console.info(`status answered after ${answerMs} ms and exited after ${exitMs} ms`);
    expect(exitMs - answerMs!).toBeLessThan(2000);
    expect(exitMs).toBeLessThan(8000);

    const sent = await runCli(['collect-now', l.uuid], cliEnv);
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toContain(`collectNow sent to ${workflowIdFor(l.uuid)}`);
    const published = await inPhase(l.uuid, 'published');

    const again = await runCli(['collect-now', l.uuid], cliEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^nothing to do: lease \S+ is published, report v1/);
    expect(again.stdout).not.toContain('sent');

    const status = await runCli(['status', l.uuid], cliEnv);
    expect(status.code, status.stderr).toBe(0);
    const location = status.stdout.match(/report\s+v1 s3:\/\/([^/\s]+)\/(\S+)/);
    expect(location, status.stdout).not.toBeNull();
    expect(location![2]).toBe(published.reports[0]!.key);
    // Copyable: the printed bucket and key name the object the run wrote.
    const object = await stack.getObject(location![2]!);
    expect(location![1]).toBe(stack.config.S3_BUCKET_NAME);
    expect(object.checksumSha256).toBe(published.reports[0]!.checksumSha256);
    expect(status.stdout).toContain(`total        ${published.reports[0]!.total} USD`);
    // The HTML report, right under the CSV, just as copyable.
    const chart = status.stdout.match(/\nchart\s+v1 s3:\/\/([^/\s]+)\/(\S+\.html)\n/);
    expect(chart, status.stdout).not.toBeNull();
    expect([chart![1], chart![2]]).toEqual([stack.config.S3_BUCKET_NAME, published.reports[0]!.chartKey]);
    expect((await stack.getObject(chart![2]!)).body.toString()).toContain(`${published.reports[0]!.total} USD`);
    const json = await runCli(['status', l.uuid, '--json'], cliEnv);
    expect(JSON.parse(json.stdout).reports[0]).toMatchObject({
      chartKey: chart![2],
      chartLocation: `s3://${chart![1]}/${chart![2]}`,
    });
  });

  it('rerun --wait follows the new version to published and prints it', async () => {
    const l = await startLease({ settleInMs: 0, rerunWindowHours: 1 });
    await inPhase(l.uuid, 'published');
    const res = await runCli(['rerun', l.uuid, '--wait'], cliEnv);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('waiting for report v2');
    expect(res.stdout).toMatch(/phase\s+published/);
    expect(res.stdout).toMatch(/report\s+v2 s3:\/\/\S+-v2\.csv/);
    const s = await statusOf(l.uuid);
    expect(s.reports.map((r) => r.version)).toEqual([1, 2]);

    const json = await runCli(['rerun', l.uuid, '--wait', '--json'], cliEnv);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      version: 3,
      phase: 'published',
      reports: [{ version: 1 }, { version: 2 }, { version: 3 }],
    });

    // A run terminated after publishing v3: the re-run starts a new run that makes v4, not v3 again.
    await client.workflow.getHandle(workflowIdFor(l.uuid)).terminate('operator stopped it');
    const closed = await runCli(['rerun', l.uuid, '--wait'], cliEnv);
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.stderr).toMatch(/new run \S+ started for \S+ \(report v4\); waiting for report v4/);
    expect(closed.stdout).toMatch(/report\s+v4 s3:\/\/\S+-v4\.csv/);
    expect((await statusOf(l.uuid)).reports.map((r) => r.version)).toEqual([1, 2, 3, 4]);
    await client.workflow.getHandle(workflowIdFor(l.uuid)).terminate('test done');
  });

  it('a missing or wrong PAYLOAD_ENCRYPTION_KEYS is one line and exit 2, for every lease command', async () => {
    const l = await startLease({ settleInMs: HOUR });
    await inPhase(l.uuid, 'waiting');
    const { PAYLOAD_ENCRYPTION_KEYS: _, ...noKey } = cliEnv;
    // The nine attempts are independent: run at once, they take one process start, not nine.
    await Promise.all(
      ['status', 'collect-now', 'rerun'].flatMap((command) => [
        runCli([command, l.uuid], noKey).then((r) =>
          expectOneLineFailure(r, 2, /payloads are encrypted: set PAYLOAD_ENCRYPTION_KEYS/),
        ),
        // Same key id, other bytes: GCM authentication fails.
        runCli([command, l.uuid], { ...cliEnv, PAYLOAD_ENCRYPTION_KEYS: newKey('ops') }).then((r) =>
          expectOneLineFailure(r, 2, /does not decrypt with key "ops"/),
        ),
        runCli([command, l.uuid], { ...cliEnv, PAYLOAD_ENCRYPTION_KEYS: newKey('other') }).then((r) =>
          expectOneLineFailure(r, 2, /key "ops", which is not configured/),
        ),
      ]),
    );
    // Nothing was changed by the failed attempts.
    expect((await statusOf(l.uuid)).phase).toBe('waiting');
    await client.workflow.getHandle(workflowIdFor(l.uuid)).terminate('test done');
  });

  it('worker --setup: a namespace it cannot set up is exit 2, one line, before the worker polls', async () => {
    // The setup itself (attributes added once, schedule created then updated) is in webhook.test.ts.
    const c = stack.config;
    const res = await runCli(['worker', '--setup'], {
      ...cliEnv,
      TEMPORAL_NAMESPACE: 'no-such-namespace',
      LEDGER_ENABLED: 'false',
      COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!,
      S3_BUCKET_NAME: c.S3_BUCKET_NAME!,
      EVENT_BUS_NAME: c.EVENT_BUS_NAME!,
      ISB_API_BASE_URL: c.ISB_API_BASE_URL!,
      ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH!,
    });
    expectOneLineFailure(res, 2, /namespace "no-such-namespace" does not exist/);
  });

  it('unknown lease exits 3, Temporal down 4, a namespace that does not exist 2', async () => {
    for (const command of ['status', 'collect-now', 'rerun']) {
      expectOneLineFailure(await runCli([command, randomUUID()], cliEnv), 3, /no workflow for lease/);
    }
    expectOneLineFailure(
      await runCli(['status', randomUUID()], { ...cliEnv, TEMPORAL_ADDRESS: '127.0.0.1:1' }),
      4,
      /cannot reach Temporal at 127\.0\.0\.1:1/,
    );
    expectOneLineFailure(
      await runCli(['status', randomUUID()], { ...cliEnv, TEMPORAL_NAMESPACE: 'no-such-namespace' }),
      2,
      /namespace "no-such-namespace" does not exist/,
    );
    const c = stack.config;
    const workerEnv = {
      COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!,
      S3_BUCKET_NAME: c.S3_BUCKET_NAME!,
      EVENT_BUS_NAME: c.EVENT_BUS_NAME!,
      ISB_API_BASE_URL: c.ISB_API_BASE_URL!,
      ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH!,
      DATABASE_URL: c.DATABASE_URL!,
    };
    expectOneLineFailure(
      await runCli(['worker'], { ...workerEnv, TEMPORAL_ADDRESS: '127.0.0.1:1' }),
      4,
      /cannot reach Temporal at 127\.0\.0\.1:1/,
    );
  });

  it('a port already taken is one line and exit 2, for dev and the webhook', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      const c = stack.config;
      expectOneLineFailure(
        await runCli(['dev', '--port', String(port), '--ui-port', String(await freePort())], {
          COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!,
          S3_BUCKET_NAME: c.S3_BUCKET_NAME!,
          EVENT_BUS_NAME: c.EVENT_BUS_NAME!,
          ISB_API_BASE_URL: c.ISB_API_BASE_URL!,
          ISB_JWT_SECRET: 'a-secret-of-sixteen-chars',
          WEBHOOK_AUTH: 'none',
          WEBHOOK_HOST: '127.0.0.1',
          DATABASE_URL: c.DATABASE_URL!,
        }),
        2,
        new RegExp(`port 127\\.0\\.0\\.1:${port} is already in use`),
      );
      expectOneLineFailure(
        await runCli(['webhook'], {
          ...cliEnv,
          WEBHOOK_AUTH: 'none',
          WEBHOOK_HOST: '127.0.0.1',
          WEBHOOK_PORT: String(port),
        }),
        2,
        new RegExp(`127\\.0\\.0\\.1:${port} is already in use`),
      );
    } finally {
      taken.close();
    }
  });

  it("report writes an exact CSV on the spot, its calls paced by the workers' pacer; no worker is a clear exit 4", async () => {
    const accountId = `${Math.floor(1e11 + Math.random() * 8e11)}`;
    const start = new Date(Date.now() - 3 * 24 * HOUR).toISOString().slice(0, 10);
    const end = new Date(Date.now() - 24 * HOUR).toISOString().slice(0, 10);
    stack.ce.addCosts(
      dailyCosts({
        accountId,
        start,
        end,
        service: 'Amazon Simple Storage Service',
        resourceId: 'my-bucket',
        region: 'eu-west-1',
        amount: '0.0000000007',
      }),
    );
    stack.ce.addCosts(
      dailyCosts({
        accountId,
        start,
        end,
        service: 'AWS Lambda',
        resourceId: 'fn',
        region: 'us-east-1',
        amount: '1.25',
      }),
    );
    const env = {
      ...awsEnvFor(stack.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint }),
      ...cliEnv,
      COST_EXPLORER_ROLE_ARN: stack.config.COST_EXPLORER_ROLE_ARN!,
    };
    const out = join(tmpdir(), `report-${randomUUID()}.csv`);
    const res = await runCli(['report', '--account', accountId, '--start', start, '--end', end, '--out', out], env);
    expect(res.code, res.stderr).toBe(0);
    const expected = stack.ce.expectedTotal({ accountId, start, end, recordType: 'Usage' });
    const [header, ...rows] = parse(readFileSync(out, 'utf8'), { record_delimiter: '\r\n' }) as string[][];
    expect(header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
    expect(rows.map((r) => [r[0], r[2]])).toEqual([
      ['fn', 'us-east-1'],
      ['my-bucket', 'eu-west-1'],
    ]);
    expect(rows.reduce((sum, r) => sum.plus(r[3]!), new Decimal(0)).toFixed()).toBe(expected);
    expect(res.stderr).toContain(`2 rows, total ${expected} USD`);
    // Its calls took slots from the workers' pacer, like every page of every lease.
    const pacer = await client.workflow.getHandle(`cost-explorer-pacer-${stack.config.TEMPORAL_TASK_QUEUE}`).describe();
    expect(pacer.status.name).toBe('RUNNING');

    expectOneLineFailure(
      await runCli(['report', '--account', accountId, '--start', end, '--end', start], env),
      2,
      /--start must be before --end/,
    );
    // A task queue no worker polls: the pacer never answers.
    expectOneLineFailure(
      await runCli(['report', '--account', accountId, '--start', start, '--end', end], {
        ...env,
        TEMPORAL_TASK_QUEUE: `nobody-${randomUUID()}`,
      }),
      4,
      /pacer on task queue nobody-\S+ did not answer within 10 s \(is a lease-costs worker running\?\)/,
    );
  }, 60_000);
});
