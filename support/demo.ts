import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CreateEventBusCommand,
  EventBridgeClient,
  PutRuleCommand,
  PutTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse } from 'csv-parse/sync';
import { startFakeCostExplorer } from './fakes/cost-explorer';
import { startFakeIsbApi } from './fakes/isb-api';
import { SAMPLE_TERMINATION_REASONS, sampleCosts, sampleLeaseTerminatedEvent } from './fakes/sample-data';
import { addDays, computeBillingWindow, utcDay } from '../src/domain/billing-window';
import { connectClient, workflowIdFor } from '../src/infrastructure/client';
import { installReconcileSchedule, RECONCILE_SCHEDULE_ID } from '../src/infrastructure/schedule-install';
import { EVENT_DETAIL_TYPE, EVENT_SOURCE, REPORT_PUBLISHED_DETAIL_TYPE } from '../src/domain/events';
import { describeTerminationReason } from '../src/domain/termination-reason';
import { startEmbeddedLedger } from './ledger-server';
import { startMoto } from './moto';
import { NO_GROUP } from '../src/domain/chargeback';
import type { LeaseStatus } from '../src/domain/schemas';
import { repoRoot, spawnManaged, type ManagedProcess } from './tools';
import { untilSignal } from '../src/interfaces/signals';
import { freePort } from './ports';
import { loadConfig } from '../src/infrastructure/config';
import { CliError } from '../src/interfaces/cli-error';
import { leaseStatus } from '../src/interfaces/lease-status';

const DAY = 24 * 3600_000;
// Cost report groups as an ISB 1.1+ lease carries them (one lease has none: the "(no group)" row).
const SAMPLES = [
  {
    name: 'long lease (20 days: resource level for the last 14, or their larger month when they span two; service level before)',
    days: 20,
    services: 10,
    resources: 300,
    reason: { ...SAMPLE_TERMINATION_REASONS.Expired, leaseDurationInHours: 480 },
    group: 'Digital Services',
  },
  {
    name: 'week-long lease',
    days: 7,
    services: 6,
    resources: 120,
    reason: SAMPLE_TERMINATION_REASONS.BudgetExceeded,
    group: 'Research',
  },
  {
    name: 'two-day lease',
    days: 2,
    services: 4,
    resources: 40,
    reason: SAMPLE_TERMINATION_REASONS.ManuallyTerminated,
    group: 'Digital Services',
  },
  {
    name: 'lease whose webhook was missed (picked up by the reconcile schedule)',
    days: 3,
    services: 3,
    resources: 20,
    missed: true,
  },
];
/** A lease still running: the monthly group report takes its month-to-date costs from Cost Explorer. */
const ACTIVE_SAMPLE = { days: 4, services: 3, resources: 15, group: 'Research', accountId: '100000000009' };

export interface DemoOptions {
  /** Exit after printing the results instead of waiting for Ctrl-C. */
  exit?: boolean;
  /** Keep running after the results even when stdin is not a terminal, until SIGINT/SIGTERM. */
  keepRunning?: boolean;
  port?: number;
  uiPort?: number;
  timeoutMs?: number;
}

const BIN = join(repoRoot, 'bin', 'lease-costs.mjs');
/** What a second terminal needs to run the CLI (status, rerun, check…) against the demo. */
const CLI_ENV_KEYS = [
  'TEMPORAL_ADDRESS',
  'PAYLOAD_ENCRYPTION_KEYS',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_ENDPOINT_URL_S3',
  'AWS_ENDPOINT_URL_STS',
  'AWS_ENDPOINT_URL_EVENTBRIDGE',
  'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  'AWS_ENDPOINT_URL_COST_EXPLORER',
  'COST_EXPLORER_ROLE_ARN',
  'S3_BUCKET_NAME',
  'S3_KEY_PREFIX',
  'EVENT_BUS_NAME',
  'ISB_API_BASE_URL',
  'ISB_JWT_SECRET_PATH',
  'WEBHOOK_API_KEY',
  'DATABASE_URL',
] as const;
const shellQuote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;

/**
 * `dev` against local stand-ins: moto for S3, STS, EventBridge and Secrets Manager, our Cost
 * Explorer and ISB fakes with sample data, and three lease terminations sent to the webhook.
 * `dev` runs as a child process whose output goes to a log file, so this terminal shows only
 * what a person reads, whatever the worker, webhook, SDK or dev server print, and however.
 */
export async function demoCommand(opts: DemoOptions = {}): Promise<void> {
  const dataDir = join(repoRoot, '.data', 'demo');
  // The stand-ins keep nothing between runs, so neither does the demo's own Temporal database.
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dataDir, { recursive: true });
  const logPath = join(dataDir, 'demo.log');
  const logFile = createWriteStream(logPath);
  const signalled = untilSignal();
  const aborted = new AbortController();
  const cleanups: { what: string; run: () => Promise<void> }[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) {
      log(`stopping ${c.what}…`);
      await c.run().catch((err) => log(`  ${c.what}: ${(err as Error).message}`));
    }
    cleanups.length = 0;
    await new Promise<void>((r) => logFile.end(r));
  };

  const finished = runDemo(opts, { dataDir, logPath, logFile, cleanups, signal: aborted.signal }).then(
    () => 'done' as const,
  );
  // After a signal the run is abandoned: a failure of it from then on is the shutdown's, not news.
  void finished.catch(() => {});
  try {
    const first = await Promise.race([finished, signalled]);
    let signal = first === 'done' ? undefined : first;
    if (first === 'done' && !opts.exit && (opts.keepRunning || process.stdin.isTTY)) {
      console.log('\nEverything keeps running for you to explore (Temporal UI above). Ctrl-C stops it all.');
      signal = await signalled;
    }
    if (signal) {
      console.log(`\n${signal}: stopping the demo`);
      aborted.abort();
    }
  } finally {
    aborted.abort();
    await cleanup();
    console.log(`stopped (logs: ${logPath})`);
  }
}

async function runDemo(
  opts: DemoOptions,
  ctx: {
    dataDir: string;
    logPath: string;
    logFile: NodeJS.WritableStream;
    cleanups: { what: string; run: () => Promise<void> }[];
    signal: AbortSignal;
  },
): Promise<void> {
  const { dataDir, cleanups } = ctx;
  log('starting local stand-ins (moto, Cost Explorer and ISB API fakes, the embedded ledger)…');
  const jwtSecret = randomBytes(32).toString('hex');
  // The demo serves the ledger, so it outlives `dev` and the CLI of a second terminal reaches it too.
  const [moto, ce, isb, ledger] = await Promise.all([
    startMoto(),
    startFakeCostExplorer({ pageSize: 100 }),
    startFakeIsbApi({ jwtSecret }),
    startEmbeddedLedger({ dataDir: join(dataDir, 'ledger') }),
  ]);
  cleanups.push({
    what: 'the local stand-ins (moto, Cost Explorer and ISB API fakes, the embedded ledger)',
    run: async () => {
      await Promise.allSettled([moto.stop(), ce.close(), isb.close(), ledger.stop()]);
    },
  });

  const apiKey = randomBytes(24).toString('hex');
  const [codecPort, webhookPort] = [
    process.env.CODEC_PORT ?? String(await freePort()),
    process.env.WEBHOOK_PORT ?? '8080',
  ];
  const env = {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'demo',
    AWS_SECRET_ACCESS_KEY: 'demo',
    AWS_ENDPOINT_URL_S3: moto.endpoint,
    AWS_ENDPOINT_URL_STS: moto.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: moto.endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
    AWS_ENDPOINT_URL_SQS: moto.endpoint,
    AWS_ENDPOINT_URL_COST_EXPLORER: ce.endpoint,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    COST_EXPLORER_ROLE_ARN: 'arn:aws:iam::999988887777:role/IsbCostExplorerAccess',
    S3_BUCKET_NAME: 'lease-costs-demo',
    S3_KEY_PREFIX: 'reports/',
    EVENT_BUS_NAME: 'isb-demo',
    ISB_API_BASE_URL: isb.endpoint,
    ISB_JWT_SECRET_PATH: 'isb/jwt-signing-secret',
    BILLING_PADDING_HOURS: '1',
    WEBHOOK_API_KEY: apiKey,
    WEBHOOK_HOST: '127.0.0.1',
    // Encrypted history, read back in the UI through the codec endpoint: the production setup.
    PAYLOAD_ENCRYPTION_KEYS: `demo:${randomBytes(32).toString('base64')}`,
    CODEC_PORT: codecPort,
    WEBHOOK_PORT: webhookPort,
    DATABASE_URL: ledger.url,
    // The FOCUS file too, so the demo shows every output a report can have.
    REPORT_FOCUS: 'true',
  };
  // The AWS SDK reads endpoints and credentials from the process environment.
  Object.assign(process.env, env);
  const aws = {
    region: 'us-east-1',
    endpoint: moto.endpoint,
    credentials: { accessKeyId: 'demo', secretAccessKey: 'demo' },
    forcePathStyle: true,
  };
  const s3 = new S3Client(aws);
  await s3.send(new CreateBucketCommand({ Bucket: env.S3_BUCKET_NAME }));
  await new EventBridgeClient(aws).send(new CreateEventBusCommand({ Name: env.EVENT_BUS_NAME }));
  const eventsQueue = await subscribeToOurEvents(aws, env.EVENT_BUS_NAME);
  await new SecretsManagerClient(aws).send(
    new CreateSecretCommand({ Name: env.ISB_JWT_SECRET_PATH, SecretString: jwtSecret }),
  );

  if (ctx.signal.aborted) return;
  const port = opts.port ?? 7233;
  const uiPort = opts.uiPort ?? 8233;
  log(`starting Temporal dev server, worker and webhook (\`lease-costs dev\`); their logs go to ${ctx.logPath}`);
  const dev = spawnManaged(
    process.execPath,
    [BIN, 'dev', '--port', String(port), '--ui-port', String(uiPort), '--db-file', join(dataDir, 'temporal.sqlite')],
    {
      env: process.env,
      output: ctx.logFile,
    },
  );
  cleanups.push({ what: 'the worker, webhook and Temporal dev server', run: () => dev.stop(30_000) });
  const webhookBase = `http://127.0.0.1:${webhookPort}`;
  await untilHealthy(`${webhookBase}/healthz`, dev, ctx.logPath, ctx.signal);
  // Stopped while starting: the shutdown owns the terminal from here.
  if (ctx.signal.aborted) return;
  const config = loadConfig({ ...process.env, TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? `127.0.0.1:${port}` }, [
    'client',
  ]);
  const uiUrl = process.env.TEMPORAL_ADDRESS ? undefined : `http://127.0.0.1:${uiPort}`;
  const webhookUrl = `${webhookBase}/webhooks/lease-terminated`;
  log(
    `Temporal ${config.TEMPORAL_ADDRESS}${uiUrl ? `, UI ${uiUrl}` : ''}; webhook ${webhookUrl}; codec endpoint http://127.0.0.1:${codecPort} (history is encrypted)`,
  );

  const cliEnv = { ...env, TEMPORAL_ADDRESS: config.TEMPORAL_ADDRESS };
  const exports = CLI_ENV_KEYS.map((k) => `export ${k}=${shellQuote(cliEnv[k])}`);
  const envFile = join(dataDir, 'cli.env');
  await writeFile(envFile, `${exports.join('\n')}\n`, { mode: 0o600 });
  console.log(
    [
      '',
      'To use the CLI against this demo from a second terminal, paste these lines (or `. .data/demo/cli.env`):',
      ...exports.map((l) => `  ${l}`),
      '  then: node bin/lease-costs.mjs status <lease-uuid>   (or rerun, collect-now, check, costs --by user)',
      '',
    ].join('\n'),
  );

  // Leases that ended an hour ago minus a few seconds: with 1 h padding the settle timer is short.
  const now = Date.now();
  const leases = SAMPLES.map((sample, i) => {
    const lease = {
      ...sample,
      uuid: randomUUID(),
      userEmail: `demo.user${i + 1}@example.gov.uk`,
      accountId: `10000000000${i + 1}`,
      startDate: new Date(now - sample.days * DAY).toISOString(),
      terminatedAt: new Date(now - 3600_000 + 8_000 + i * 2_000).toISOString(),
    };
    const window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd: lease.terminatedAt, paddingHours: 1 });
    ce.addCosts(
      sampleCosts({
        accountId: lease.accountId,
        start: addDays(window.start, -2),
        end: addDays(utcDay(new Date(now).toISOString()), 1),
        services: sample.services,
        resources: sample.resources,
        seed: i + 1,
      }),
    );
    isb.addLease({
      uuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      startDate: lease.startDate,
      endDate: lease.terminatedAt,
      status: 'Expired',
      ...('group' in sample ? { costReportGroup: sample.group } : {}),
    });
    return lease;
  });
  const activeStart = new Date(now - ACTIVE_SAMPLE.days * DAY).toISOString();
  ce.addCosts(
    sampleCosts({
      accountId: ACTIVE_SAMPLE.accountId,
      start: addDays(utcDay(activeStart), -2),
      end: addDays(utcDay(new Date(now).toISOString()), 1),
      services: ACTIVE_SAMPLE.services,
      resources: ACTIVE_SAMPLE.resources,
      seed: 9,
    }),
  );
  isb.addLease({
    uuid: randomUUID(),
    userEmail: 'demo.active@example.gov.uk',
    accountId: ACTIVE_SAMPLE.accountId,
    startDate: activeStart,
    status: 'Active',
    costReportGroup: ACTIVE_SAMPLE.group,
  });

  for (const lease of leases) {
    if (!('reason' in lease) || !lease.reason) continue;
    // As the ISB sends it: source InnovationSandbox-<namespace>, and why the lease ended.
    const res = await fetch(webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
      body: JSON.stringify(
        sampleLeaseTerminatedEvent({
          uuid: lease.uuid,
          userEmail: lease.userEmail,
          accountId: lease.accountId,
          time: lease.terminatedAt,
          reason: lease.reason,
        }),
      ),
    });
    log(
      `LeaseTerminated ${lease.uuid} (${lease.name}, ${lease.reason.type}) → webhook ${res.status} ${await res.text()}`,
    );
  }

  if (ctx.signal.aborted) return;
  const client = await connectClient(config);
  cleanups.push({ what: "the demo's Temporal client", run: () => client.connection.close() });
  // Run the reconciliation now rather than at the top of the hour.
  await installReconcileSchedule(client, config, { trigger: true });
  log(
    `schedule ${RECONCILE_SCHEDULE_ID} triggered: it lists the ISB leases and starts a run for the missed one${uiUrl ? ` (${uiUrl}/namespaces/${config.TEMPORAL_NAMESPACE}/schedules/${RECONCILE_SCHEDULE_ID})` : ''}`,
  );
  const final = await watch(
    client,
    leases.map((l) => l.uuid),
    opts.timeoutMs ?? 150_000,
    ctx.signal,
  );
  if (ctx.signal.aborted) return;
  const reconciled = (await client.schedule.getHandle(RECONCILE_SCHEDULE_ID).describe()).info.recentActions.at(-1)
    ?.action.workflow.workflowId;
  if (reconciled)
    log(`${reconciled}: ${((await client.workflow.getHandle(reconciled).result()) as { summary: string }).summary}`);

  const emitted = await drainQueue(aws, eventsQueue);
  const eventsFile = join(dataDir, 'events.jsonl');
  await writeFile(eventsFile, emitted.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const emittedFor = (uuid: string, detailType: string) =>
    emitted.filter((e) => e['detail-type'] === detailType && e.detail.leaseId === uuid);

  console.log('\n=== lease cost reports ===');
  for (const lease of leases) {
    const status = final.get(lease.uuid);
    const report = status?.reports.at(-1);
    console.log(
      `\n${lease.name}\n  lease ${lease.uuid}, account ${lease.accountId}, cost report group ${status?.attribution?.costReportGroup ?? NO_GROUP}`,
    );
    if (!status || !report) {
      console.log(
        `  no report: ${status?.lastError ? `${status.lastError.type}: ${status.lastError.message}` : (status?.phase ?? 'unknown')}`,
      );
      continue;
    }
    const object = await s3.send(new GetObjectCommand({ Bucket: env.S3_BUCKET_NAME, Key: report.key }));
    const csv = await object.Body!.transformToString();
    const file = join(dataDir, `lease-costs-${lease.uuid}-v${report.version}.csv`);
    await writeFile(file, csv);
    const [, ...rows] = parse(csv) as string[][];
    console.log(`  CSV          s3://${env.S3_BUCKET_NAME}/${report.key} (copy: ${file})`);
    if (report.chartKey) {
      const chart = await s3.send(new GetObjectCommand({ Bucket: env.S3_BUCKET_NAME, Key: report.chartKey }));
      const chartFile = join(dataDir, basename(report.chartKey));
      await writeFile(chartFile, await chart.Body!.transformToByteArray());
      console.log(
        `  chart        s3://${env.S3_BUCKET_NAME}/${report.chartKey} (open: ${pathToFileURL(chartFile).href})`,
      );
    }
    if (report.focusKey) console.log(`  FOCUS        s3://${env.S3_BUCKET_NAME}/${report.focusKey}`);
    console.log(
      `  rows         ${report.rowCount}, resource level: ${report.resourceLevel}, window ${report.billingWindow.start} to ${report.billingWindow.end} (exclusive)`,
    );
    console.log(`  total        ${report.total} USD (exact), SHA-256 ${report.checksumSha256}`);
    console.log('  top rows:');
    for (const [name, service, region, cost] of rows.slice(0, 5)) {
      console.log(
        `    ${cost!.padStart(16)}  ${service!.slice(0, 40).padEnd(40)} ${region!.padEnd(10)} ${name!.slice(0, 70)}`,
      );
    }
    console.log(
      `  ended        ${status.terminationReason ? describeTerminationReason(status.terminationReason) : '(no LeaseTerminated event: found by the reconcile schedule)'}`,
    );
    const generated = emittedFor(lease.uuid, EVENT_DETAIL_TYPE).at(-1);
    console.log(
      `  events       ${EVENT_DETAIL_TYPE} (totalCost ${String(generated?.detail.totalCost ?? 'not received')}), ${REPORT_PUBLISHED_DETAIL_TYPE} × ${emittedFor(lease.uuid, REPORT_PUBLISHED_DETAIL_TYPE).length}`,
    );
    if (uiUrl)
      console.log(
        `  Temporal UI  ${uiUrl}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${workflowIdFor(lease.uuid)}`,
      );
  }
  // What a second terminal gets from the ledger: the real CLI, as a process, on the printed environment.
  console.log('\n=== lease-costs costs --by service ===');
  const costs = await runCliCapture(['costs', '--by', 'service'], { ...process.env, ...cliEnv });
  process.stdout.write(costs.stdout || `${costs.stderr.trim()}\n`);
  if (costs.code !== 0) process.exitCode = 1;
  console.log(`\nevents on bus ${env.EVENT_BUS_NAME}, as a consumer's rule receives them: ${eventsFile}`);
  // Chargeback: the ledger by cost report group, then this month's group report (the
  // lease-costs-monthly schedule writes last month's on its day; this runs it on demand).
  for (const args of [
    ['costs', '--by', 'group'],
    ['group-report', '--month', new Date(now).toISOString().slice(0, 7)],
  ]) {
    console.log(`\n=== lease-costs ${args.join(' ')} ===`);
    const run = await runCliCapture(args, { ...process.env, ...cliEnv });
    process.stdout.write(run.stdout || `${run.stderr.trim()}\n`);
    if (run.code !== 0) process.exitCode = 1;
  }
  const published = [...final.values()].filter((s) => s.phase === 'published').length;
  console.log(`\n${published}/${leases.length} leases published; Cost Explorer calls: ${ce.stats().total}`);
  if (published !== leases.length) process.exitCode = 1;
}

/** What the demo's SDK clients take: moto's endpoint, region and credentials. */
type AwsClientConfig = {
  region: string;
  endpoint: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  forcePathStyle: boolean;
};
interface EmittedEvent {
  'detail-type': string;
  source: string;
  detail: Record<string, unknown>;
}

/** What a consumer does: a rule on the bus for our source, into a queue, so the demo can show what it emitted. */
async function subscribeToOurEvents(aws: AwsClientConfig, busName: string): Promise<string> {
  const sqs = new SQSClient(aws);
  const events = new EventBridgeClient(aws);
  try {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'lease-costs-demo-events' }));
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }))).Attributes!
      .QueueArn!;
    await events.send(
      new PutRuleCommand({
        Name: 'lease-costs-demo-events',
        EventBusName: busName,
        EventPattern: JSON.stringify({ source: [EVENT_SOURCE] }),
        State: 'ENABLED',
      }),
    );
    await events.send(
      new PutTargetsCommand({
        Rule: 'lease-costs-demo-events',
        EventBusName: busName,
        Targets: [{ Id: 'queue', Arn: arn }],
      }),
    );
    return QueueUrl!;
  } finally {
    sqs.destroy();
    events.destroy();
  }
}

/** Everything in the queue, until a receive comes back empty. */
async function drainQueue(aws: AwsClientConfig, queueUrl: string): Promise<EmittedEvent[]> {
  const sqs = new SQSClient(aws);
  const out: EmittedEvent[] = [];
  try {
    for (;;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      if (Messages.length === 0) return out;
      out.push(...Messages.map((m) => JSON.parse(m.Body!) as EmittedEvent));
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
    }
  } finally {
    sqs.destroy();
  }
}

/** Waits until the webhook reports Temporal reachable; fails with the log's tail if `dev` exits first. */
async function untilHealthy(
  url: string,
  dev: ManagedProcess,
  logPath: string,
  signal: AbortSignal,
  timeoutMs = 180_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!signal.aborted) {
    if (dev.hasExited()) {
      throw new CliError(
        `lease-costs dev stopped while starting (exit ${String(await dev.exited)}); its log, ${logPath}, ends with:\n${dev.outputTail().split('\n').slice(-15).join('\n')}`,
      );
    }
    if (Date.now() > deadline)
      throw new CliError(`lease-costs dev not ready after ${timeoutMs / 1000} s; see ${logPath}`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 300));
  }
}
/** Prints each lease's phase and pages as they change, until all are published or failed. */
async function watch(
  client: Awaited<ReturnType<typeof connectClient>>,
  uuids: string[],
  timeoutMs: number,
  signal: AbortSignal,
) {
  const last = new Map<string, string>();
  const final = new Map<string, LeaseStatus>();
  const deadline = Date.now() + timeoutMs;
  while (final.size < uuids.length && Date.now() < deadline && !signal.aborted) {
    for (const uuid of uuids.filter((u) => !final.has(u))) {
      const { status } = await leaseStatus(client, uuid).catch(() => ({ status: undefined }));
      if (!status) continue;
      const report = status.reports.at(-1);
      const line = `${status.phase.padEnd(10)} pages ${status.pagesFetched}${report ? `, rows ${report.rowCount}, total ${report.total} USD` : ''}${status.phase === 'waiting' ? ` (settle until ${status.settleUntil})` : ''}`;
      if (last.get(uuid) !== line) log(`${uuid.slice(0, 8)}  ${line}`);
      last.set(uuid, line);
      if (status.phase === 'published' || status.phase === 'failed') final.set(uuid, status);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return final;
}

function runCliCapture(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

function log(message: string) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}
