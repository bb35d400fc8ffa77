import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { freePort, isPortFree } from './ports';
import { SEARCH_ATTRIBUTES } from '../src/domain/search-attributes';
import { CliError, EXIT_BAD_CONFIG } from '../src/interfaces/cli-error';
import { spawnManaged, toolPath, type StdioMode } from './tools';

export interface DevServerOptions {
  /** Frontend gRPC port; a free one when omitted. */
  port?: number;
  /** Web UI port; `false` runs headless; a free one when omitted. */
  uiPort?: number | false;
  /** HTTP API port; the CLI picks a free one when omitted. */
  httpPort?: number;
  /** Prometheus `/metrics` port; the CLI picks a free one when omitted. */
  metricsPort?: number;
  /** SQLite file, so workflows survive restarts; in-memory when omitted. */
  dbFile?: string;
  /** Created at launch (besides `default`, which always exists). */
  namespace?: string;
  logLevel?: string;
  extraArgs?: string[];
  /** Server output: `ignore` (default), `inherit` (forwarded to ours) or `pipe` (read `process.stdout/stderr`). */
  stdio?: StdioMode;
  /** How long to wait for the frontend, namespace and search attributes. */
  readyTimeoutMs?: number;
}

export interface DevServer {
  /** `127.0.0.1:<port>` */
  address: string;
  uiUrl?: string;
  port: number;
  uiPort?: number;
  namespace: string;
  stop(): Promise<void>;
  process: ChildProcess;
}

export function devServerArgs(o: {
  port: number;
  uiPort: number | false;
  httpPort?: number;
  metricsPort?: number;
  dbFile?: string;
  namespace: string;
  logLevel: string;
  extraArgs?: string[];
}): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port)];
  if (o.uiPort === false) args.push('--headless');
  else args.push('--ui-port', String(o.uiPort), '--ui-disable-news-fetch');
  if (o.httpPort !== undefined) args.push('--http-port', String(o.httpPort));
  if (o.metricsPort !== undefined) args.push('--metrics-port', String(o.metricsPort));
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  args.push('--namespace', o.namespace, '--log-level', o.logLevel);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  // Task-queue priority (src/domain/priority.ts): off on a self-hosted server, the dev server included, without it.
  args.push('--dynamic-config-value', 'matching.useNewMatcher=true');
  args.push(...(o.extraArgs ?? []));
  return args;
}

/** Starts `temporal server start-dev` and resolves once the namespace and our search attributes are usable. */
export async function startTemporalDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  // A port picked before the server binds it (ours, or one the CLI picks itself for its HTTP API
  // and internal services) can be taken by another process meanwhile: start again. A port of ours
  // that is really taken fails startOnce's check first, with a clear error.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      const lost = err instanceof Error && !(err instanceof CliError) && /already in use/i.test(err.message);
      if (!lost || attempt >= 3) throw err;
    }
  }
}

async function startOnce(opts: DevServerOptions): Promise<DevServer> {
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort === false ? false : (opts.uiPort ?? (await freePort()));
  const namespace = opts.namespace ?? 'default';
  const dbFile = opts.dbFile ? resolve(opts.dbFile) : undefined;
  if (dbFile) mkdirSync(dirname(dbFile), { recursive: true });

  // Without this, the readiness probe below would happily talk to whatever already listens there.
  const wanted: [string, number | undefined][] = [
    ['port', port],
    ['uiPort', uiPort === false ? undefined : uiPort],
    ['httpPort', opts.httpPort],
    ['metricsPort', opts.metricsPort],
  ];
  for (const [what, p] of wanted) {
    if (p !== undefined && !(await isPortFree(p))) {
      // An operator's mistake (another server running), not a bug: one line, exit 2.
      throw new CliError(
        `cannot start the Temporal dev server: ${what} 127.0.0.1:${p} is already in use (stop what uses it, pass --port/--ui-port, or set TEMPORAL_ADDRESS to use that server)`,
        EXIT_BAD_CONFIG,
      );
    }
  }

  const args = devServerArgs({
    port,
    uiPort,
    httpPort: opts.httpPort,
    metricsPort: opts.metricsPort,
    dbFile,
    namespace,
    logLevel: opts.logLevel ?? 'warn',
    extraArgs: opts.extraArgs,
  });
  const managed = spawnManaged(toolPath('temporal'), args, { stdio: opts.stdio });
  const address = `127.0.0.1:${port}`;

  try {
    await waitReady(address, namespace, managed, opts.readyTimeoutMs ?? 60_000);
    if (managed.hasExited()) throw new Error(`temporal dev server exited right after start:\n${managed.outputTail()}`);
  } catch (err) {
    await managed.stop(2_000);
    throw err;
  }

  return {
    address,
    port,
    namespace,
    ...(uiPort === false ? {} : { uiPort, uiUrl: `http://127.0.0.1:${uiPort}` }),
    stop: () => managed.stop(),
    process: managed.process,
  };
}

async function waitReady(
  address: string,
  namespace: string,
  managed: ReturnType<typeof spawnManaged>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const wanted = Object.keys(SEARCH_ATTRIBUTES);
  let lastError = 'not contacted yet';
  const exitedEarly = () =>
    new Error(
      `temporal dev server exited early (${String(managed.process.exitCode ?? managed.process.signalCode)}):\n${managed.outputTail()}`,
    );

  while (Date.now() < deadline) {
    if (managed.hasExited()) throw exitedEarly();
    // grpc-js retries refused connections with backoff until its timeout: probe TCP first.
    if (!(await tcpAccepts(address))) {
      await Promise.race([sleep(100), managed.exited]);
      continue;
    }
    let connection: Connection | undefined;
    try {
      connection = await Connection.connect({ address, connectTimeout: 2_000 });
      await connection.workflowService.getSystemInfo({});
      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
      const missing = wanted.filter((name) => !(name in (customAttributes ?? {})));
      if (missing.length === 0) return;
      lastError = `search attributes not yet visible in ${namespace}: ${missing.join(', ')}`;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      await connection?.close().catch(() => {});
    }
    // Stop waiting at once if the process dies while we sleep.
    await Promise.race([sleep(250), managed.exited]);
  }
  if (managed.hasExited()) throw exitedEarly();
  throw new Error(
    `temporal dev server at ${address} not ready after ${timeoutMs} ms (last: ${lastError}). Output:\n${managed.outputTail()}`,
  );
}

function tcpAccepts(address: string): Promise<boolean> {
  const [host, port] = address.split(':');
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
