import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { activityInterceptor } from '../../activities/interceptor';
import { createPresigner } from '../../activities/s3-objects';
import { createStagingStore } from '../../activities/staging-store';
import { pacedCallSlots } from '../infrastructure/call-pacer';
import { costExplorerClient, eventBridgeClient, jwtSecretLoader, s3Client } from '../infrastructure/aws';
import { failureContext } from '../infrastructure/failure-context';
import { dataConverterFor } from '../infrastructure/codec';
import type { Config } from '../infrastructure/config';
import { costExplorerQueueOf } from '../domain/task-queues';
import { LedgerUnavailable, migrateLedger, openLedger, type LedgerDb } from '../infrastructure/ledger-db';
import { reportLinkPresignerFor } from '../infrastructure/report-link-signing';
import { createSummaryReader } from '../infrastructure/summary-reader';
import { temporalConnectionOptions } from '../infrastructure/temporal-connection';
import { checkoutWorkflowBundle } from '../infrastructure/workflow-bundle';

/**
 * Production wiring: real AWS clients from the SDK's default chain and the validated config.
 * `acquireCallSlot` spaces Cost Explorer calls across every worker (see pacedCallSlots).
 */
export function productionActivityDeps(
  config: Config,
  acquireCallSlot: (priorityKey?: number) => Promise<void>,
  client: Client,
  ledger: LedgerDb | undefined,
): ActivityDeps {
  const s3 = s3Client();
  const reports = { s3, bucket: config.S3_BUCKET_NAME!, keyPrefix: config.S3_KEY_PREFIX, focus: config.REPORT_FOCUS };
  return {
    isb: {
      baseUrl: config.ISB_API_BASE_URL!,
      loadSecret: jwtSecretLoader(config),
      userEmail: config.ISB_JWT_USER_EMAIL,
    },
    costExplorer: {
      costExplorer: costExplorerClient(config.COST_EXPLORER_ROLE_ARN!, config.COST_EXPLORER_EXTERNAL_ID),
      roleArn: config.COST_EXPLORER_ROLE_ARN!,
      staging: createStagingStore(s3, config.S3_BUCKET_NAME!),
      keyPrefix: config.S3_KEY_PREFIX,
      acquireCallSlot,
      costScope: config.COST_SCOPE,
    },
    reports,
    eventBridge: {
      eventBridge: eventBridgeClient(),
      busName: config.EVENT_BUS_NAME!,
      presign:
        reportLinkPresignerFor(config) ??
        createPresigner({ ...reports, urlExpiryDays: config.PRESIGNED_URL_EXPIRY_DAYS }),
      ...failureContext(config, client),
    },
    temporal: { client, config },
    ledger: { db: ledger, readSummary: createSummaryReader(s3, config.S3_BUCKET_NAME!, config.S3_KEY_PREFIX) },
  };
}

/** The ledger's pool, migrated to the latest schema, or undefined with LEDGER_ENABLED=false. */
export async function openMigratedLedger(config: Config): Promise<LedgerDb | undefined> {
  if (!config.LEDGER_ENABLED) return undefined;
  const db = openLedger(config.DATABASE_URL!, { log: Runtime.instance().logger });
  try {
    await migrateLedger(db);
    return db;
  } catch (err) {
    await db.destroy();
    throw new LedgerUnavailable(config.DATABASE_URL!, err);
  }
}

/**
 * Pages in flight per process: one second of calls at the cap. A page holds its activity slot for
 * its call and staging write, so one worker keeps the cap with calls of up to about a second; every
 * page in flight beyond that only waits for a slot, and a lease's next page cannot start until one
 * of them ends (docs/operations.md, "Priority").
 */
export const costExplorerConcurrency = (maxRps: number) => Math.max(1, Math.ceil(maxRps));

/** Written by `npm run build` next to the compiled code (the image); absent in a checkout. */
const prebuiltBundle = fileURLToPath(new URL('./workflow-bundle.js', import.meta.url));
/**
 * The build's bundle, else one made beforehand from this checkout (LEASE_COSTS_WORKFLOW_BUNDLE: the
 * test run's, which the test run's built CLI needs), else the checkout's own, remade when its
 * sources change (checkoutWorkflowBundle).
 */
const workflowCode = async (): Promise<Pick<WorkerOptions, 'workflowBundle'>> => {
  const bundle = existsSync(prebuiltBundle) ? prebuiltBundle : process.env.LEASE_COSTS_WORKFLOW_BUNDLE;
  return { workflowBundle: bundle && existsSync(bundle) ? { codePath: bundle } : await checkoutWorkflowBundle() };
};

/**
 * Worker Versioning, on when TEMPORAL_WORKER_BUILD_ID is set: both workers of the process poll as one
 * Deployment Version, so a pinned workflow's activities (Cost Explorer pages included) run on its
 * build too. Each workflow type declares its behavior next to its code (workflows/versioning.ts).
 * The SDK requires a default as well: AUTO_UPGRADE, which only runs started before versioning was
 * on get (they behave as unversioned runs always did). Unset: unversioned, as `dev`, `demo` and the
 * tests run. The deploy, not the worker, makes a version current (docs/upgrade.md).
 */
export function workerDeploymentOptionsFor(
  config: Pick<Config, 'TEMPORAL_DEPLOYMENT_NAME' | 'TEMPORAL_WORKER_BUILD_ID'>,
): Pick<WorkerOptions, 'workerDeploymentOptions'> {
  if (!config.TEMPORAL_WORKER_BUILD_ID) return {};
  return {
    workerDeploymentOptions: {
      version: { deploymentName: config.TEMPORAL_DEPLOYMENT_NAME, buildId: config.TEMPORAL_WORKER_BUILD_ID },
      useWorkerVersioning: true,
      defaultVersioningBehavior: 'AUTO_UPGRADE',
    },
  };
}

/** The two workers of one process, started and stopped as one. */
export interface LeaseCostsWorker {
  run(): Promise<void>;
  shutdown(): void;
  getState(): ReturnType<Worker['getState']>;
}

/**
 * A worker for the lease workflows (and the pacer) and their activities, plus one for Cost Explorer
 * pages. Page activities wait for a pacer slot before their call, so the pacer alone holds
 * COST_EXPLORER_MAX_RPS; the small concurrency bounds how far ahead slots are handed out (a few
 * seconds per worker process), so a waiting page never nears its timeout.
 */
export async function createWorker(
  config: Config,
  opts: { connection?: NativeConnection; deps?: ActivityDeps; workerOptions?: Partial<WorkerOptions> } = {},
): Promise<LeaseCostsWorker> {
  const connection = opts.connection ?? (await NativeConnection.connect(temporalConnectionOptions(config)));
  const common = { connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: dataConverterFor(config) };
  const client = new Client(common);
  // Migrated before the first task is polled, so no activity meets an old schema.
  const ledger = opts.deps ? undefined : await openMigratedLedger(config);
  const deps =
    opts.deps ??
    productionActivityDeps(
      config,
      pacedCallSlots(client, config.TEMPORAL_TASK_QUEUE, config.COST_EXPLORER_MAX_RPS),
      client,
      ledger,
    );
  const { collectCostsPage, collectAccountDailyPage, ...activities } = createActivities(deps);
  // One interceptor for every activity of both workers: it turns external systems' refusals into named failures.
  const interceptors = { activity: [activityInterceptor(deps.costExplorer)] };
  try {
    return runTogether(
      await createWorkers(
        config,
        { ...common, interceptors },
        activities,
        { collectCostsPage, collectAccountDailyPage },
        opts.workerOptions,
      ),
      async () => {
        await ledger?.destroy();
      },
    );
  } catch (err) {
    await ledger?.destroy();
    throw err;
  }
}

/** The activities that call Cost Explorer: on their own task queue, each call through the pacer. */
type CostExplorerActivity = 'collectCostsPage' | 'collectAccountDailyPage';

async function createWorkers(
  config: Config,
  common: Pick<WorkerOptions, 'connection' | 'namespace' | 'dataConverter' | 'interceptors'>,
  activities: Omit<ReturnType<typeof createActivities>, CostExplorerActivity>,
  costExplorerActivities: Pick<ReturnType<typeof createActivities>, CostExplorerActivity>,
  workerOptions: Partial<WorkerOptions> | undefined,
): Promise<Worker[]> {
  const versioning = workerDeploymentOptionsFor(config);
  const main = await Worker.create({
    ...common,
    ...versioning,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    activities,
    ...(workerOptions?.workflowBundle ? {} : await workflowCode()),
    ...workerOptions,
  });
  const costExplorer = await Worker.create({
    ...common,
    ...versioning,
    taskQueue: costExplorerQueueOf(config.TEMPORAL_TASK_QUEUE),
    activities: costExplorerActivities,
    maxConcurrentActivityTaskExecutions: costExplorerConcurrency(config.COST_EXPLORER_MAX_RPS),
  });
  return [main, costExplorer];
}

function runTogether(workers: Worker[], afterRun: () => Promise<void>): LeaseCostsWorker {
  const shutdown = () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
  };
  return {
    shutdown,
    getState: () => workers[0]!.getState(),
    async run() {
      // If one stops (fatal error or shutdown), stop the other: a half-working process helps nobody.
      const results = await Promise.allSettled(workers.map((w) => w.run().finally(shutdown)));
      await afterRun();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    },
  };
}
