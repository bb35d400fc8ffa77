import { NativeConnection } from '@temporalio/worker';
import { join } from 'node:path';
import { loadConfig, type Config, type Role } from '../src/infrastructure/config';
import { startEmbeddedLedger } from './ledger-server';
import { runCodecServer } from '../src/interfaces/codec-endpoint';
import { startTemporalDevServer, type DevServer } from './dev-server';
import { temporalConnectionOptions } from '../src/infrastructure/temporal-connection';
import { installRuntime } from '../src/infrastructure/telemetry';
import { createLogger, type Logger } from '../src/infrastructure/logging';
import { repoRoot } from './tools';
import { runWebhook } from '../src/interfaces/webhook-server';
import { createWorker } from '../src/interfaces/worker-composition';
import { connectClient } from '../src/infrastructure/client';
import { installReconcileSchedule } from '../src/infrastructure/schedule-install';
import { redactDatabaseUrl } from '../src/infrastructure/ledger-db';
import { untilSignal } from '../src/interfaces/signals';

export interface DevStackOptions {
  env?: NodeJS.ProcessEnv;
  port?: number;
  uiPort?: number;
  /** SQLite file so runs survive restarts. */
  dbFile?: string;
  /** Where the worker's, webhook's and codec endpoint's log lines go (default: stdout, per LOG_FORMAT). */
  logger?: Logger;
  /** The embedded ledger's PGlite directory, used when DATABASE_URL is unset (default .data/ledger). */
  ledgerDir?: string;
}

export interface DevStack {
  config: Config;
  server?: DevServer;
  uiUrl?: string;
  webhookUrl: string;
  codecUrl?: string;
  /** The embedded ledger's directory, when dev serves one (DATABASE_URL unset). */
  ledgerDir?: string;
  logger: Logger;
  stop(): Promise<void>;
}

/**
 * The whole service in one process tree: the pinned dev server (unless TEMPORAL_ADDRESS or a
 * Temporal profile names a server),
 * a worker and the webhook. Config is validated before anything starts.
 */
export async function startDevStack(opts: DevStackOptions = {}): Promise<DevStack> {
  let env = opts.env ?? process.env;
  // No DATABASE_URL: the embedded ledger, once the rest of the config is known to be good.
  const embedLedger = !env.DATABASE_URL && env.LEDGER_ENABLED !== 'false';
  const roles: Role[] = env.PAYLOAD_ENCRYPTION_KEYS ? ['worker', 'webhook', 'codec'] : ['worker', 'webhook'];
  // With keys, dev also serves the codec endpoint: its settings are checked with the rest.
  let config = loadConfig(embedLedger ? { ...env, LEDGER_ENABLED: 'false' } : env, roles);
  const logger = opts.logger ?? createLogger(config);
  await installRuntime(config, logger);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse())
      await s().catch((err) => logger.error({ error: (err as Error).message }, 'shutdown step failed'));
    stops.length = 0;
  };
  const ledgerDir = embedLedger ? (opts.ledgerDir ?? join(repoRoot, '.data', 'ledger')) : undefined;
  try {
    if (ledgerDir) {
      const ledger = await startEmbeddedLedger({ dataDir: ledgerDir });
      stops.push(() => ledger.stop());
      env = { ...env, DATABASE_URL: ledger.url };
      config = loadConfig(env, roles);
    }
    let server: DevServer | undefined;
    let codecUrl: string | undefined;
    if (config.PAYLOAD_ENCRYPTION_KEYS) {
      const uiPort = opts.uiPort ?? 8233;
      const codec = await runCodecServer(
        {
          ...config,
          CODEC_CORS_ORIGINS: `${config.CODEC_CORS_ORIGINS},http://127.0.0.1:${uiPort},http://localhost:${uiPort}`,
        },
        logger,
      );
      stops.push(() => codec.close());
      codecUrl = codec.url;
    }
    // No address from the environment or a Temporal profile: run our own server.
    if (config.temporalConnection.address === undefined) {
      server = await startTemporalDevServer({
        port: opts.port ?? 7233,
        uiPort: opts.uiPort ?? 8233,
        dbFile: opts.dbFile ?? join(repoRoot, '.data', 'temporal.sqlite'),
        namespace: config.TEMPORAL_NAMESPACE,
        logLevel: 'error',
        // The UI decrypts payloads in the browser session through our codec endpoint.
        extraArgs: codecUrl ? ['--ui-codec-endpoint', codecUrl] : [],
      });
      stops.push(() => server!.stop());
      // Plaintext, no API key: the profile's TLS settings are for some other server.
      config = {
        ...config,
        TEMPORAL_ADDRESS: server.address,
        temporalConnection: { address: server.address },
        TEMPORAL_UI_URL: config.TEMPORAL_UI_URL ?? server.uiUrl,
      };
    }
    const connection = await NativeConnection.connect(temporalConnectionOptions(config));
    stops.push(() => connection.close());
    const worker = await createWorker(config, { connection });
    const running = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    const webhook = await runWebhook(config, logger);
    stops.push(() => webhook.close());
    const client = await connectClient(config);
    stops.push(() => client.connection.close());
    await installReconcileSchedule(client, config);
    return {
      config,
      server,
      uiUrl: server?.uiUrl,
      codecUrl,
      ledgerDir,
      logger,
      webhookUrl: `${webhook.address}/webhooks/lease-terminated`,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function devCommand(
  opts: { port?: number; uiPort?: number; dbFile?: string; ledgerDir?: string } = {},
): Promise<void> {
  // Listening from the start: a signal while starting must stop what has started, not be lost.
  const signalled = untilSignal();
  const starting = startDevStack(opts);
  const early = await Promise.race([starting.then(() => undefined), signalled]);
  if (early) {
    console.log(`${early}: stopping once started…`);
    const stack = await starting.catch(() => undefined);
    await stack?.stop();
    console.log('stopped');
    return;
  }
  const stack = await starting;
  console.log(
    [
      'lease-costs dev is running',
      `  Temporal     ${stack.config.TEMPORAL_ADDRESS} (namespace ${stack.config.TEMPORAL_NAMESPACE}, task queue ${stack.config.TEMPORAL_TASK_QUEUE})`,
      ...(stack.uiUrl ? [`  Temporal UI  ${stack.uiUrl}`] : []),
      `  Webhook      POST ${stack.webhookUrl}`,
      ...(stack.codecUrl
        ? [`  Codec        ${stack.codecUrl} (payloads are encrypted; the UI decrypts through it)`]
        : []),
      ...(stack.config.LEDGER_ENABLED
        ? [
            `  Ledger       ${stack.ledgerDir ? `embedded PGlite in ${stack.ledgerDir}; from another terminal: DATABASE_URL='${stack.config.DATABASE_URL!}' lease-costs costs` : redactDatabaseUrl(stack.config.DATABASE_URL!)}`,
          ]
        : []),
      'Ctrl-C stops everything.',
    ].join('\n'),
  );
  const signal = await signalled;
  console.log(
    `${signal}: stopping the webhook, the worker (finishing its current tasks)${stack.server ? ', the Temporal dev server' : ''}${stack.ledgerDir ? ', the embedded ledger' : ''}${stack.codecUrl ? ' and the codec endpoint' : ''}…`,
  );
  await stack.stop();
  console.log('stopped');
}
