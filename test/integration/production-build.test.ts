// The production build as the image ships it, and every command run from it: `npm run build` (the
// compiled CLI and the prebuilt workflow bundle in dist/), bin/, package.json and the lock file in a
// directory of their own, the production dependencies there (the tree `npm ci --omit=dev` gives)
// and the image's pruning, so nothing from the checkout (sources, tsx, dev dependencies, support/)
// can stand in for what is missing. Each command answers --help and does its real work against the
// test stack, from that directory, with this Node.
import { execFile } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { Client, Connection, ScheduleNotFoundError } from '@temporalio/client';
import { parse } from 'csv-parse/sync';
import Decimal from 'decimal.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { workflowIdFor } from '../../src/infrastructure/client';
import { dataConverterFor } from '../../src/infrastructure/codec';
import { RECONCILE_SCHEDULE_ID } from '../../src/infrastructure/schedule-install';
import type { LeaseStatus } from '../../src/domain/schemas';
import { awsEnvFor, clientConfig } from '../../support/aws';
import { freePort } from '../../support/ports';
import { repoRoot, spawnManaged, type ManagedProcess } from '../../support/tools';
import { runCli, type CliRun } from '../helpers/cli';
import { leaseTerminatedEvent } from '../../support/events';
import { httpRequest } from '../helpers/http';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { fetchHistory } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const exec = promisify(execFile);
const DAY = 24 * 3600_000;
const isoSecond = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
const COMMANDS = [
  'worker',
  'webhook',
  'codec-server',
  'status',
  'rerun',
  'collect-now',
  'check',
  'report',
  'backfill',
  'costs',
  'schedule install',
  'intake',
  'deployment status',
  'deployment promote',
  'dev',
  'demo',
];
const KEYS = `build:${randomBytes(32).toString('base64')}`;
const CODEC_TOKEN = randomBytes(24).toString('hex');
const WEBHOOK_KEY = randomBytes(16).toString('hex');

let app: string;
let stack: Stack;
let env: Record<string, string>;
let webhookUrl: string;
/** Reads the encrypted runs, to wait on them without a process per poll. */
let client: Client;
const processes: ManagedProcess[] = [];
const setupTimes: string[] = [];

/** The CLI from the built directory, with its own working directory (so no checkout `.env` is read). */
const built = (args: string[], extra: Record<string, string> = {}) =>
  runCli(args, { ...env, ...extra }, { bin: join(app, 'bin', 'lease-costs.mjs'), cwd: app });
const ok = (res: CliRun) => {
  expect(res.code, `${res.stderr}\n${res.stdout}`).toBe(0);
  return res.stdout;
};
/** A long-running command from the built directory, its stdout collected. */
function startBuilt(args: string[], extra: Record<string, string> = {}) {
  const proc = spawnManaged(process.execPath, [join(app, 'bin', 'lease-costs.mjs'), ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
      ...extra,
    },
    cwd: app,
  });
  processes.push(proc);
  let out = '';
  proc.process.stdout!.on('data', (c: Buffer) => void (out += c.toString()));
  const until = (text: string, what: string) =>
    waitFor(
      async () => {
        if (out.includes(text)) return true;
        if (proc.hasExited()) throw new Error(`${args[0]} exited: ${proc.outputTail()}`);
        return undefined;
      },
      30_000,
      what,
    );
  return { proc, output: () => out, until };
}

const inPhase = (uuid: string, phase: string) =>
  waitFor(
    async () => {
      const s = await client.workflow.getHandle(workflowIdFor(uuid)).query<LeaseStatus>('status');
      return s.phase === phase ? s : undefined;
    },
    45_000,
    `lease ${uuid} to be ${phase}`,
  );

const timed = async <T>(label: string, p: Promise<T>) => {
  const t0 = Date.now();
  const v = await p;
  setupTimes.push(`${label} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return v;
};

/**
 * The production dependencies and the image's pruning, once per package.json and lock file. The
 * checkout's install, hard-linked and pruned with `npm prune --omit=dev`, is the tree `npm ci
 * --omit=dev` unpacks from the same lock file (the same files), for a tenth of the CPU. Later runs
 * hard-link the cached tree.
 */
async function productionInstall(into: string): Promise<void> {
  const manifest = await Promise.all(['package.json', 'package-lock.json'].map((f) => readFile(join(repoRoot, f))));
  const key = createHash('sha256')
    .update(manifest[0]!)
    .update('\0')
    .update(manifest[1]!)
    .update(`\0${process.platform}-${process.arch}`)
    .digest('hex')
    .slice(0, 16);
  const cache = join(repoRoot, 'node_modules', '.cache', 'production-install', key);
  if (!existsSync(cache)) {
    const staging = `${cache}.${process.pid}`;
    await rm(staging, { recursive: true, force: true });
    await mkdir(join(staging, 'node_modules'), { recursive: true });
    for (const f of ['package.json', 'package-lock.json']) await copyFile(join(repoRoot, f), join(staging, f));
    // Packages only, hard-linked. Not npm's hidden lock file, which `npm prune` rewrites in place
    // (through a link it would rewrite the checkout's), nor the caches (.cache holds this one).
    const packages = readdirSync(join(repoRoot, 'node_modules')).filter(
      (e) => !['.cache', '.package-lock.json', '.vite', '.vite-temp'].includes(e),
    );
    await exec('cp', ['-al', ...packages.map((e) => join(repoRoot, 'node_modules', e)), join(staging, 'node_modules')]);
    await exec('npm', ['prune', '--omit=dev', '--no-audit', '--no-fund'], { cwd: staging, timeout: 240_000 });
    await exec(process.execPath, [join(repoRoot, 'scripts', 'prune-production.mjs')], { cwd: staging });
    // Another run may have finished first: either tree is the same.
    await rename(staging, cache).catch(() => rm(staging, { recursive: true, force: true }));
  }
  await exec('cp', ['-al', join(cache, 'node_modules'), join(into, 'node_modules')]);
}

beforeAll(async () => {
  app = await mkdtemp(join(tmpdir(), 'lease-costs-image-'));
  await mkdir(join(app, 'bin'));
  for (const f of ['package.json', 'package-lock.json']) await copyFile(join(repoRoot, f), join(app, f));
  await copyFile(join(repoRoot, 'bin', 'lease-costs.mjs'), join(app, 'bin', 'lease-costs.mjs'));
  [stack] = await Promise.all([
    timed('stack', startStack()),
    timed(
      'npm run build',
      exec(process.execPath, ['scripts/build.mjs', '--outdir', join(app, 'dist')], { cwd: repoRoot, timeout: 180_000 }),
    ),
    timed('production install', productionInstall(app)),
  ]);
  const c = stack.config;
  env = {
    ...awsEnvFor(stack.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint }),
    TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS,
    TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
    PAYLOAD_ENCRYPTION_KEYS: KEYS,
    COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!,
    S3_BUCKET_NAME: c.S3_BUCKET_NAME!,
    S3_KEY_PREFIX: c.S3_KEY_PREFIX,
    EVENT_BUS_NAME: c.EVENT_BUS_NAME!,
    ISB_API_BASE_URL: c.ISB_API_BASE_URL!,
    ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH!,
    DATABASE_URL: c.DATABASE_URL!,
    // Runs close once published, so `rerun` starts a new run from the last one's (encrypted) input.
    BILLING_PADDING_HOURS: '0',
    RERUN_WINDOW_DAYS: '0',
    NODE_ENV: 'production',
  };
  client = new Client({
    connection: Connection.lazy({ address: c.TEMPORAL_ADDRESS }),
    dataConverter: dataConverterFor({ PAYLOAD_ENCRYPTION_KEYS: KEYS }),
  });
  console.info(`[production-build] ${setupTimes.join(', ')}`);
}, 300_000);

afterAll(async () => {
  await Promise.allSettled(processes.map((p) => p.stop()));
  await client?.connection.close();
  await stack?.stop();
  if (app) await rm(app, { recursive: true, force: true });
});

describe('the production build', () => {
  it('holds the compiled CLI and the workflow bundle, nothing from support/, and no dev dependency', () => {
    const dist = readdirSync(join(app, 'dist'));
    expect(dist).toEqual(expect.arrayContaining(['cli.mjs', 'workflow-bundle.js', 'failure-converter.cjs']));
    expect(dist.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(readdirSync(app).sort()).toEqual(['bin', 'dist', 'node_modules', 'package-lock.json', 'package.json']);
    for (const devOnly of ['tsx', '@electric-sql/pglite', 'vitest', 'esbuild'])
      expect(existsSync(join(app, 'node_modules', devOnly)), devOnly).toBe(false);
    const code = dist
      .filter((f) => f.endsWith('.mjs'))
      .map((f) => readFileSync(join(app, 'dist', f), 'utf8'))
      .join('\n');
    // esbuild heads each bundled module with a `// <path>` comment.
    expect(code).toMatch(/^\/\/ src\/interfaces\/cli\.ts$/m);
    expect(code).not.toMatch(/^\/\/ (support|test)\//m);
    expect(code).not.toContain('@electric-sql/');
  });

  it('every command answers --help; --version; dev and demo say they need a checkout', async () => {
    const runs = [['--version'], ...COMMANDS.map((c) => [...c.split(' '), '--help']), ['dev'], ['demo']];
    // Four at a time: each is a Node start-up, and the 2 cores are shared with the rest of the suite.
    const results: CliRun[] = [];
    for (let i = 0; i < runs.length; i += 4)
      results.push(...(await Promise.all(runs.slice(i, i + 4).map((args) => built(args)))));
    const [version, ...helps] = results.slice(0, 1 + COMMANDS.length);
    expect(ok(version!).trim()).toBe(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version);
    helps.forEach((res, i) => expect(ok(res)).toContain(`Usage: lease-costs ${COMMANDS[i]} [options]`));
    for (const [i, command] of ['dev', 'demo'].entries()) {
      const res = results[1 + COMMANDS.length + i]!;
      expect(res.code).toBe(2);
      expect(res.stderr.trim()).toBe(
        `lease-costs: \`lease-costs ${command}\` runs from a checkout with its dev dependencies (git clone, then npm ci); this build ships without them`,
      );
    }
  }, 120_000);
});

describe('every command from the production build, against the stack', () => {
  // Ended two days ago (no settle delay left), and just now (an hour's padding to wait out).
  const lease = {
    uuid: randomUUID(),
    userEmail: `build.${randomUUID().slice(0, 6)}@example.gov.uk`,
    accountId: '271828182845',
    endDate: isoSecond(Date.now() - 2 * DAY),
  };
  const queued = {
    uuid: randomUUID(),
    userEmail: `queued.${randomUUID().slice(0, 6)}@example.gov.uk`,
    accountId: '314159265358',
    endDate: isoSecond(Date.now()),
  };

  beforeAll(async () => {
    for (const l of [lease, queued]) {
      const startDate = new Date(Date.now() - 3 * DAY).toISOString();
      stack.isb.addLease({ ...l, startDate, status: 'Expired' });
      stack.ce.addCosts(
        dailyCosts({
          accountId: l.accountId,
          start: startDate.slice(0, 10),
          end: new Date(Date.now() + DAY).toISOString().slice(0, 10),
          service: 'AWS Lambda',
          resourceId: `arn:aws:lambda:eu-west-2:${l.accountId}:function:f`,
          region: 'eu-west-2',
          amount: '0.25',
        }),
      );
    }
    const port = await freePort();
    const worker = startBuilt(['worker']);
    const webhook = startBuilt(['webhook'], {
      WEBHOOK_PORT: String(port),
      WEBHOOK_HOST: '127.0.0.1',
      WEBHOOK_API_KEY: WEBHOOK_KEY,
    });
    await Promise.all([
      worker.until('"msg":"Worker started"', 'the worker to start'),
      webhook.until('"msg":"webhook listening"', 'the webhook to listen'),
    ]);
    // The prebuilt bundle, not webpack at start.
    expect(worker.output()).not.toContain('Workflow bundle created');
    webhookUrl = `http://127.0.0.1:${port}`;
  }, 60_000);

  it('webhook and worker: a LeaseTerminated POST starts a run the worker publishes; status, rerun and costs read it', async () => {
    const health = await httpRequest(`${webhookUrl}/healthz`, { method: 'GET' });
    expect([health.status, health.json]).toEqual([200, { status: 'ok' }]);
    const event = leaseTerminatedEvent({ ...lease, time: lease.endDate });
    const posted = await httpRequest(`${webhookUrl}/webhooks/lease-terminated`, {
      headers: { 'content-type': 'application/json', 'x-api-key': WEBHOOK_KEY },
      body: JSON.stringify(event),
    });
    expect(posted.status, posted.text).toBe(202);
    expect(posted.json).toMatchObject({ workflowId: workflowIdFor(lease.uuid), status: 'started' });

    await inPhase(lease.uuid, 'published');
    const published = JSON.parse(ok(await built(['status', lease.uuid, '--json']))) as {
      phase: string;
      reports: { version: number; key: string; total: string; rowCount: number }[];
    };
    expect(published.phase).toBe('published');
    expect(published.reports).toHaveLength(1);
    expect(published.reports[0]!.rowCount).toBeGreaterThan(0);
    const text = ok(await built(['status', lease.uuid]));
    expect(text).toContain(`report       v1 s3://${stack.config.S3_BUCKET_NAME}/${published.reports[0]!.key}`);
    expect((await stack.getObject(published.reports[0]!.key)).body.toString()).toContain('Resource Name');

    // The run is closed: rerun decodes its encrypted input from history and starts v2 from it.
    const rerun = await built(['rerun', lease.uuid, '--wait', '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const v2 = JSON.parse(rerun.stdout) as {
      version: number;
      phase: string;
      reports: { version: number; total: string }[];
    };
    expect(v2).toMatchObject({ version: 2, phase: 'published' });
    expect(v2.reports.map((r) => r.total)).toEqual([published.reports[0]!.total, published.reports[0]!.total]);

    // The ledger holds the newest version only: the same exact total, once.
    const costs = JSON.parse(ok(await built(['costs', '--user', lease.userEmail, '--json']))) as {
      total: string;
      lines: { key: string; cost: string }[];
    };
    expect(costs.lines).toEqual([expect.objectContaining({ key: lease.uuid, cost: published.reports[0]!.total })]);
    expect(costs.total).toBe(published.reports[0]!.total);
  });

  it("codec-server decodes the run's encrypted input from history, and stops on SIGTERM", async () => {
    const port = await freePort();
    const codec = startBuilt(['codec-server'], { CODEC_PORT: String(port), CODEC_AUTH_TOKEN: CODEC_TOKEN });
    await codec.until('"msg":"codec endpoint listening"', 'the codec endpoint');
    const input = (await fetchHistory(stack.client, workflowIdFor(lease.uuid))).events![0]!
      .workflowExecutionStartedEventAttributes!.input!.payloads!;
    expect(Buffer.from(input[0]!.data!).toString('latin1')).not.toContain(lease.userEmail);
    const res = await httpRequest(`http://127.0.0.1:${port}/decode`, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${CODEC_TOKEN}` },
      body: JSON.stringify({
        payloads: input.map((p) => ({
          metadata: Object.fromEntries(
            Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
          ),
          data: Buffer.from(p.data!).toString('base64'),
        })),
      }),
    });
    expect(res.status, res.text).toBe(200);
    const [decoded] = (res.json as { payloads: { data: string }[] }).payloads;
    expect(JSON.parse(Buffer.from(decoded!.data, 'base64').toString())).toMatchObject({
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
    });
    codec.proc.process.kill('SIGTERM');
    expect(await codec.proc.exited).toBe(0);
    expect(codec.output()).toContain('"msg":"shutting down"');
  });

  it('intake starts a run from one moto SQS message and stops on SIGTERM; collect-now ends its settle delay', async () => {
    const sqs = new SQSClient(clientConfig(stack.motoEndpoint));
    const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `build-${randomUUID().slice(0, 8)}` })))
      .QueueUrl!;
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(leaseTerminatedEvent({ ...queued, time: queued.endDate })),
      }),
    );
    sqs.destroy();
    const intake = startBuilt(['intake', '--queue-url', queueUrl], { BILLING_PADDING_HOURS: '1' });
    await intake.until('"msg":"started"', 'the intake to start the run');
    expect(intake.output()).toContain(queued.uuid);
    intake.proc.process.kill('SIGTERM');
    expect(await intake.proc.exited).toBe(0);

    await inPhase(queued.uuid, 'waiting');
    const waiting = JSON.parse(ok(await built(['status', queued.uuid, '--json']))) as {
      phase: string;
      paddingHours: number;
    };
    expect(waiting).toMatchObject({ phase: 'waiting', paddingHours: 1 });
    expect(ok(await built(['collect-now', queued.uuid]))).toContain(`collectNow sent to ${workflowIdFor(queued.uuid)}`);
    await inPhase(queued.uuid, 'published');
  });

  it("check passes all eight; report writes the exact CSV through the worker's pacer", async () => {
    const accountId = '161803398874';
    const start = new Date(Date.now() - 3 * DAY).toISOString().slice(0, 10);
    const end = new Date(Date.now() - DAY).toISOString().slice(0, 10);
    stack.ce.addCosts(
      dailyCosts({
        accountId,
        start,
        end,
        service: 'AWS Lambda',
        resourceId: 'fn',
        region: 'us-east-1',
        amount: '1.0000000001',
      }),
    );
    const out = join(app, 'report.csv');
    const [check, report] = await Promise.all([
      built(['check']),
      built(['report', '--account', accountId, '--start', start, '--end', end, '--out', out]),
    ]);
    const lines = ok(check).trim().split('\n');
    expect(lines.at(-1)).toBe('all 8 checks passed');
    expect(lines.slice(0, -1).every((l) => l.startsWith('ok'))).toBe(true);
    expect(report.code, report.stderr).toBe(0);
    const [header, ...rows] = parse(readFileSync(out, 'utf8'), { record_delimiter: '\r\n' }) as string[][];
    expect(header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
    const expected = stack.ce.expectedTotal({ accountId, start, end, recordType: 'Usage' });
    expect(rows.reduce((sum, r) => sum.plus(r[3]!), new Decimal(0)).toFixed()).toBe(expected);
    expect(report.stderr).toContain(`total ${expected} USD`);
  });

  it('backfill --dry-run lists the ended lease with no run and starts nothing; schedule install installs the schedule; deployment asks the server', async () => {
    const missed = {
      uuid: randomUUID(),
      userEmail: 'missed@example.gov.uk',
      accountId: '141421356237',
      endDate: isoSecond(Date.now() - 10 * DAY),
    };
    stack.isb.addLease({ ...missed, startDate: isoSecond(Date.now() - 12 * DAY), status: 'Expired' });
    const day = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY).toISOString().slice(0, 10);
    // The reconcile schedule is one per namespace: installed in a namespace of its own, apart from other files'.
    const namespace = inject('isolatedNamespace');
    const [dry, schedule, promote] = await Promise.all([
      built(['backfill', '--since', day(11), '--until', day(9), '--dry-run']),
      built(['schedule', 'install', '--json'], { TEMPORAL_NAMESPACE: namespace }),
      // The workers here are unversioned: the server knows no deployment, and says so.
      built(['deployment', 'promote', '--build-id', 'build-1', '--timeout', '0']),
    ]);
    expect([promote.code, promote.stderr.trim()]).toEqual([
      2,
      'lease-costs: no versioned worker of deployment "lease-costs" has polled namespace default: workers join it with TEMPORAL_DEPLOYMENT_NAME and TEMPORAL_WORKER_BUILD_ID (unset, they run unversioned)',
    ]);
    const lines = ok(dry).trim().split('\n');
    expect(lines.slice(0, -1)).toEqual([
      `would start ${missed.uuid} account ${missed.accountId} Expired ended ${missed.endDate}`,
    ]);
    expect(lines.at(-1)).toMatch(
      /: 1 ended leases, 1 would be started, 0 already had a run \(3 leases scanned in 1 pages\)$/,
    );
    await expect(stack.client.workflow.getHandle(workflowIdFor(missed.uuid)).describe()).rejects.toThrow();
    expect(JSON.parse(ok(schedule))).toMatchObject({
      scheduleId: RECONCILE_SCHEDULE_ID,
      outcome: 'created',
      triggered: false,
    });
    const isolated = new Client({
      connection: client.connection,
      namespace,
      dataConverter: dataConverterFor({ PAYLOAD_ENCRYPTION_KEYS: KEYS }),
    });
    const described = await isolated.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe();
    expect(described.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'reconcileLeasesWorkflow',
      taskQueue: stack.config.TEMPORAL_TASK_QUEUE,
    });
    await isolated.schedule
      .getHandle(RECONCILE_SCHEDULE_ID)
      .delete()
      .catch((err: unknown) => {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      });
  });
});
