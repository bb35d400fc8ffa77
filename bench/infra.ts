// The local stack for the benchmark, built from the same pieces as the tests (dev server, moto, our
// fakes, the production worker wiring) but without vitest. Everything started here is registered
// for `close()`, which stops it all in reverse order.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig, type Config } from '../src/infrastructure/config';
import { startTemporalDevServer, type DevServer } from '../support/dev-server';
import { startMoto } from '../support/moto';
import { repoRoot, spawnManaged, type ManagedProcess } from '../support/tools';
import { createWorker } from '../src/interfaces/worker-composition';
import { checkoutWorkflowBundle } from '../src/infrastructure/workflow-bundle';
import { awsEnvFor, clientConfig, createBucket } from '../support/aws';
import { log } from './format';

export const ROLE_ARN = 'arn:aws:iam::999988887777:role/IsbCostExplorerAccess';
const NAMESPACE = 'default';

export interface AwsSetup {
  motoEndpoint: string;
  bucket: string;
  busName: string;
  secretName: string;
  jwtSecret: string;
}

export interface WorkerEnvArgs {
  ceEndpoint: string;
  isbEndpoint: string;
  taskQueue: string;
  maxRps?: number;
  paddingHours?: number;
}

export class Infra {
  private readonly cleanups: { name: string; fn: () => Promise<void> }[] = [];
  private devServer?: Promise<DevServer>;
  private clientP?: Promise<Client>;
  private nativeP?: Promise<NativeConnection>;
  private awsP?: Promise<AwsSetup>;
  private bundleP?: Promise<string>;
  private tmpDir?: Promise<string>;
  private closing?: Promise<void>;
  readonly id = randomBytes(3).toString('hex');

  /** Registers a cleanup; cleanups run in reverse order of registration. */
  defer(name: string, fn: () => Promise<void>): void {
    this.cleanups.push({ name, fn });
  }

  /** Stops everything; idempotent (a signal and the normal path may both call it). */
  close(): Promise<void> {
    this.closing ??= this.closeAll();
    return this.closing;
  }

  private async closeAll(): Promise<void> {
    // Closing connections under in-flight calls (after an interrupt) makes grpc-js throw from its
    // retry timers: by now that is noise, not a reason to skip the rest of the cleanup.
    const seen = new Set<string>();
    const ignore = (err: unknown) => {
      const message = (err as Error)?.message ?? String(err);
      if (!seen.has(message)) log(`ignored during shutdown: ${message}`);
      seen.add(message);
    };
    process.on('uncaughtException', ignore);
    process.on('unhandledRejection', ignore);
    while (this.cleanups.length > 0) {
      const { name, fn } = this.cleanups.pop()!;
      try {
        await fn();
      } catch (err) {
        log(`cleanup of ${name} failed: ${(err as Error).message}`);
      }
    }
  }

  temporal(): Promise<DevServer> {
    this.devServer ??= (async () => {
      log('starting the Temporal dev server (in memory, headless)…');
      const server = await startTemporalDevServer({ uiPort: false });
      this.defer('temporal dev server', () => server.stop());
      log(`Temporal dev server on ${server.address}`);
      return server;
    })();
    return this.devServer;
  }

  client(): Promise<Client> {
    this.clientP ??= (async () => {
      const { address } = await this.temporal();
      const connection = await Connection.connect({ address });
      this.defer('client connection', () => connection.close());
      return new Client({ connection, namespace: NAMESPACE });
    })();
    return this.clientP;
  }

  /** The SDK Runtime (quiet) and one native connection for in-process workers. */
  nativeConnection(): Promise<NativeConnection> {
    this.nativeP ??= (async () => {
      const { address } = await this.temporal();
      try {
        Runtime.install({ logger: new DefaultLogger('WARN') });
      } catch {
        /* already installed */
      }
      const connection = await NativeConnection.connect({ address });
      this.defer('native connection', () => connection.close());
      return connection;
    })();
    return this.nativeP;
  }

  tmp(): Promise<string> {
    this.tmpDir ??= (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'lease-costs-bench-'));
      this.defer('temp dir', () => rm(dir, { recursive: true, force: true }));
      return dir;
    })();
    return this.tmpDir;
  }

  /** The checkout's workflow bundle (made once while the sources are unchanged), shared by every worker. */
  workflowBundle(): Promise<string> {
    this.bundleP ??= (async () => {
      const bundle = await checkoutWorkflowBundle();
      if ('codePath' in bundle) return bundle.codePath;
      const codePath = join(await this.tmp(), 'workflow-bundle.js');
      await writeFile(codePath, bundle.code);
      return codePath;
    })();
    return this.bundleP;
  }

  /** moto, with the bucket, bus and JWT secret the worker needs. */
  aws(): Promise<AwsSetup> {
    this.awsP ??= (async () => {
      log('starting moto…');
      const moto = await startMoto();
      this.defer('moto', () => moto.stop());
      const setup: AwsSetup = {
        motoEndpoint: moto.endpoint,
        bucket: `lease-costs-bench-${this.id}`,
        busName: `isb-bench-${this.id}`,
        secretName: `isb/jwt-bench-${this.id}`,
        jwtSecret: `isb-secret-${randomBytes(16).toString('hex')}`,
      };
      await createBucket(moto.endpoint, setup.bucket);
      const events = new EventBridgeClient(clientConfig(moto.endpoint));
      const sm = new SecretsManagerClient(clientConfig(moto.endpoint));
      try {
        await events.send(new CreateEventBusCommand({ Name: setup.busName }));
        await sm.send(new CreateSecretCommand({ Name: setup.secretName, SecretString: setup.jwtSecret }));
      } finally {
        events.destroy();
        sm.destroy();
      }
      return setup;
    })();
    return this.awsP;
  }

  /** The environment a production worker gets, pointed at the stand-ins. */
  async workerEnv(args: WorkerEnvArgs): Promise<Record<string, string>> {
    const aws = await this.aws();
    const { address } = await this.temporal();
    return {
      ...awsEnvFor(aws.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: args.ceEndpoint }),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: NAMESPACE,
      TEMPORAL_TASK_QUEUE: args.taskQueue,
      COST_EXPLORER_ROLE_ARN: ROLE_ARN,
      COST_EXPLORER_MAX_RPS: String(args.maxRps ?? 4),
      BILLING_PADDING_HOURS: String(args.paddingHours ?? 0),
      S3_BUCKET_NAME: aws.bucket,
      S3_KEY_PREFIX: 'reports/',
      EVENT_BUS_NAME: aws.busName,
      ISB_API_BASE_URL: args.isbEndpoint,
      ISB_JWT_SECRET_PATH: aws.secretName,
      // The benchmark measures reports; the ledger's own cost is not part of it.
      LEDGER_ENABLED: 'false',
      // Nothing from the caller's shell may change what is measured.
      PAYLOAD_ENCRYPTION_KEYS: '',
      METRICS_BIND_ADDRESS: '',
      LOG_LEVEL: 'WARN',
    };
  }

  /** A production-wired worker in this process; returns a stop function. */
  async startInProcessWorker(env: Record<string, string>): Promise<{ config: Config; stop: () => Promise<void> }> {
    const [connection, codePath] = await Promise.all([this.nativeConnection(), this.workflowBundle()]);
    // The AWS SDK reads endpoints and credentials from the process environment, as in production.
    Object.assign(process.env, env);
    const config = loadConfig(env, ['worker']);
    const worker = await createWorker(config, { connection, workerOptions: { workflowBundle: { codePath } } });
    const running = worker.run();
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    };
    this.defer('in-process worker', stop);
    return { config, stop };
  }

  /**
   * `count` production workers, each a separate Node process (bench/worker-child.ts: the worker
   * command's wiring, with the shared workflow bundle), polling the same task queue. Resolves once
   * the server sees them all polling.
   */
  async startChildWorkers(
    env: Record<string, string>,
    count: number,
  ): Promise<{ stop: () => Promise<void>; processes: ManagedProcess[] }> {
    const codePath = await this.workflowBundle();
    const processes: ManagedProcess[] = [];
    const stop = async () => {
      await Promise.allSettled(processes.map((p) => p.stop(15_000)));
    };
    this.defer('child workers', stop);
    for (let i = 0; i < count; i++) {
      processes.push(
        spawnManaged(process.execPath, ['--import', 'tsx', join(repoRoot, 'bench', 'worker-child.ts')], {
          env: { ...process.env, ...env, BENCH_WORKFLOW_BUNDLE: codePath },
          cwd: repoRoot,
        }),
      );
    }
    await this.waitForPollers(env.TEMPORAL_TASK_QUEUE!, count, processes);
    return { stop, processes };
  }

  private async waitForPollers(
    taskQueue: string,
    count: number,
    processes: ManagedProcess[],
    timeoutMs = 120_000,
  ): Promise<void> {
    const client = await this.client();
    const { TaskQueueType } = proto.temporal.api.enums.v1;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const dead = processes.find((p) => p.hasExited());
      if (dead) throw new Error(`a worker process exited during start:\n${dead.outputTail()}`);
      const counts = await Promise.all(
        [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map(async (type) => {
          const res = await client.workflowService.describeTaskQueue({
            namespace: NAMESPACE,
            taskQueue: { name: taskQueue },
            taskQueueType: type,
          });
          return new Set((res.pollers ?? []).map((p) => p.identity)).size;
        }),
      );
      if (counts.every((c) => c >= count)) return;
      if (Date.now() > deadline) {
        throw new Error(
          `workers not polling ${taskQueue} after ${timeoutMs} ms (pollers: ${counts.join('/')}):\n${processes.map((p) => p.outputTail()).join('\n---\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
