import { randomBytes } from 'node:crypto';
import { Client, Connection, type WorkflowExecutionInfo, type WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment, type TimeSkippingTestWorkflowEnvironmentOptions } from '@temporalio/testing';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel, type Worker } from '@temporalio/worker';
import { afterAll, inject } from 'vitest';
import { toolPath } from '../../support/tools';
import { waitFor } from './wait';

export const TEST_NAMESPACE = 'default';

// Workers log every state change at INFO; TEMPORAL_TEST_LOG_LEVEL=DEBUG brings it back.
try {
  Runtime.install({ logger: new DefaultLogger((process.env.TEMPORAL_TEST_LOG_LEVEL ?? 'WARN') as LogLevel) });
} catch {
  /* a Runtime already exists in this process */
}

// One connection of each kind per server per test file; closed after the file's tests.
// Keyed by address: a test may run its own server besides the shared one.
const connections = new Map<string, Connection>();
const nativeConnections = new Map<string, Promise<NativeConnection>>();

export async function closeTestConnections(): Promise<void> {
  const [cs, ns] = [[...connections.values()], [...nativeConnections.values()]];
  connections.clear();
  nativeConnections.clear();
  await Promise.allSettled([...cs.map((c) => c.close()), ...ns.map((n) => n.then((nc) => nc.close()))]);
}

try {
  afterAll(closeTestConnections);
} catch {
  /* imported outside a test file's collection phase */
}

/**
 * A client on the shared dev server (or on `address`). Do not close its connection: the helper
 * does, after the file.
 */
export function testClient(address: string = inject('temporalAddress')): Client {
  let connection = connections.get(address);
  if (!connection) connections.set(address, (connection = Connection.lazy({ address })));
  return new Client({ connection, namespace: TEST_NAMESPACE });
}

let queueSeq = 0;
/** Task queue names unique across test files and runs, so workers never steal each other's tasks. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${process.pid}-${++queueSeq}-${randomBytes(3).toString('hex')}`;
}

export function workflowBundlePath(): string {
  const path = inject('workflowBundlePath');
  if (!path) throw new Error(`no workflow bundle: ${inject('workflowBundleError') ?? 'unknown reason'}`);
  return path;
}

/** Spread into `Worker.create({ ...(await workerOptionsBase()), taskQueue, activities })`; `address` defaults to the shared server. */
export async function workerOptionsBase(address: string = inject('temporalAddress')): Promise<{
  connection: NativeConnection;
  namespace: string;
  workflowBundle: { codePath: string };
}> {
  const codePath = workflowBundlePath();
  let nativeConnection = nativeConnections.get(address);
  if (!nativeConnection) nativeConnections.set(address, (nativeConnection = NativeConnection.connect({ address })));
  return { connection: await nativeConnection, namespace: TEST_NAMESPACE, workflowBundle: { codePath } };
}

/** Runs the worker until `fnOrPromise` settles, then shuts it down (and fails if the worker fails). */
export function runWorkerUntil<R>(worker: Worker, fnOrPromise: Promise<R> | (() => Promise<R>)): Promise<R> {
  return worker.runUntil(fnOrPromise);
}

export type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

export function fetchHistory(client: Client, workflowId: string, runId?: string): Promise<History> {
  return client.workflow.getHandle(workflowId, runId).fetchHistory();
}

/** Java time-skipping test server from `.tools`, never a download. Call `env.teardown()` when done. */
export function startTimeSkippingEnv(
  opts: Omit<TimeSkippingTestWorkflowEnvironmentOptions, 'server'> & { extraArgs?: string[] } = {},
): Promise<TestWorkflowEnvironment> {
  const { extraArgs, ...rest } = opts;
  return TestWorkflowEnvironment.createTimeSkipping({
    ...rest,
    server: { executable: { type: 'existing-path', path: toolPath('temporal-test-server') }, extraArgs },
  });
}

/**
 * With RECORD_HISTORIES=1, saves a finished run's history as a replay fixture
 * (test/fixtures/histories/<name>.binpb, the protobuf encoding). Binary, because the SDK's
 * historyToJSON trips over two copies of protobufjs in this dependency tree.
 */
export async function recordHistory(name: string, history: History): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const { temporal } = await import('@temporalio/proto');
  const { mkdir, writeFile } = await import('node:fs/promises');
  const dir = new URL('../fixtures/histories/', import.meta.url);
  await mkdir(dir, { recursive: true });
  await writeFile(new URL(`${name}.binpb`, dir), temporal.api.history.v1.History.encode(history).finish());
}

/** Visibility lags the workflows it lists: lists `query` until `settled` holds for the answer, and returns it. */
export function listWhenSettled<T>(
  client: Client,
  query: string,
  pick: (wf: WorkflowExecutionInfo) => T,
  settled: (items: T[]) => boolean,
): Promise<T[]> {
  return waitFor(
    async () => {
      const items: T[] = [];
      for await (const wf of client.workflow.list({ query })) items.push(pick(wf));
      return settled(items) ? items : undefined;
    },
    30_000,
    `visibility to answer ${query}`,
  );
}
