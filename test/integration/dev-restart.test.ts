import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBillingWindow } from '../../src/domain/billing-window';
import { workflowIdFor } from '../../src/infrastructure/client';
import { freePort, isPortFree } from '../../support/ports';
import type { LeaseStatus } from '../../src/domain/schemas';
import { spawnManaged, type ManagedProcess } from '../../support/tools';
import { awsEnvFor } from '../../support/aws';
import { leaseTerminatedEvent } from '../../support/events';
import { httpRequest } from '../helpers/http';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { listWhenSettled } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lease-costs.mjs');
const API_KEY = 'dev-restart-key-0123456789abcdef';
const DAY = 24 * 3600_000;

let stack: Stack;
let dir: string;
let env: NodeJS.ProcessEnv;
let ports: { grpc: number; ui: number; webhook: number };
let dev: ManagedProcess | undefined;

/** `lease-costs dev` as a user runs it, resolved once its banner is printed. */
async function startDev(): Promise<ManagedProcess> {
  const proc = spawnManaged(
    process.execPath,
    [
      BIN,
      'dev',
      '--port',
      String(ports.grpc),
      '--ui-port',
      String(ports.ui),
      '--db-file',
      join(dir, 'temporal.sqlite'),
      '--ledger-dir',
      join(dir, 'ledger'),
    ],
    { env },
  );
  let out = '';
  proc.process.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  await waitFor(
    async () => {
      if (proc.hasExited()) throw new Error(`dev exited early:\n${proc.outputTail()}`);
      return out.includes('lease-costs dev is running') ? true : undefined;
    },
    90_000,
    'the dev banner',
  );
  return proc;
}

/** Ctrl-C: SIGINT to the whole process group, as a terminal sends it. */
async function ctrlC(proc: ManagedProcess): Promise<number | string> {
  process.kill(-proc.process.pid!, 'SIGINT');
  return Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 30_000))]);
}

beforeAll(async () => {
  stack = await startStack();
  dir = await mkdtemp(join(tmpdir(), 'lease-costs-dev-'));
  ports = { grpc: await freePort(), ui: await freePort(), webhook: await freePort() };
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...awsEnvFor(stack.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint }),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    COST_EXPLORER_ROLE_ARN: stack.config.COST_EXPLORER_ROLE_ARN,
    S3_BUCKET_NAME: stack.config.S3_BUCKET_NAME,
    S3_KEY_PREFIX: stack.config.S3_KEY_PREFIX,
    EVENT_BUS_NAME: stack.config.EVENT_BUS_NAME,
    ISB_API_BASE_URL: stack.config.ISB_API_BASE_URL,
    ISB_JWT_SECRET_PATH: stack.config.ISB_JWT_SECRET_PATH,
    BILLING_PADDING_HOURS: '1',
    RERUN_WINDOW_DAYS: '0',
    WEBHOOK_PORT: String(ports.webhook),
    WEBHOOK_HOST: '127.0.0.1',
    WEBHOOK_API_KEY: API_KEY,
  };
});
afterAll(async () => {
  await dev?.stop();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('lease-costs dev', () => {
  it('a workflow sleeping when dev is stopped completes after dev starts again', async () => {
    dev = await startDev();
    const uuid = randomUUID();
    const accountId = '456789012345';
    const startDate = new Date(Date.now() - 3 * DAY).toISOString();
    stack.isb.addLease({
      uuid,
      userEmail: 'katherine.johnson@example.gov.uk',
      accountId,
      startDate,
      status: 'Expired',
    });
    stack.ce.addCosts(
      dailyCosts({
        accountId,
        start: startDate.slice(0, 10),
        end: new Date(Date.now() + DAY).toISOString().slice(0, 10),
        service: 'AWS Lambda',
        resourceId: `arn:aws:lambda:eu-west-2:${accountId}:function:f`,
        region: 'eu-west-2',
        amount: '0.25',
      }),
    );
    // Terminated an hour ago minus 25 s: with 1 h padding the timer fires 25 s from now.
    const event = leaseTerminatedEvent({
      uuid,
      accountId,
      userEmail: 'katherine.johnson@example.gov.uk',
      time: new Date(Date.now() - 3600_000 + 25_000).toISOString(),
    });
    const res = await httpRequest(`http://127.0.0.1:${ports.webhook}/webhooks/lease-terminated`, {
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify(event),
    });
    expect(res.status).toBe(202);

    const connect = () => new Client({ connection: Connection.lazy({ address: `127.0.0.1:${ports.grpc}` }) });
    let client = connect();
    const waiting = await waitFor(
      async () => {
        const s = await client.workflow.getHandle(workflowIdFor(uuid)).query<LeaseStatus>('status');
        return s.phase === 'waiting' ? s : undefined;
      },
      30_000,
      'phase waiting',
    );
    expect(waiting.reports).toHaveLength(0);
    await client.connection.close();

    // One Ctrl-C stops everything: the process exits cleanly and frees every port.
    expect(await ctrlC(dev)).toBe(0);
    // It says what it is stopping, and when it is done.
    expect(dev.outputTail()).toMatch(
      /SIGINT: stopping the webhook, the worker \(finishing its current tasks\), the Temporal dev server, the embedded ledger…/,
    );
    expect(dev.outputTail()).toMatch(/\nstopped$/);
    dev = undefined;
    for (const p of Object.values(ports)) expect(await isPortFree(p)).toBe(true);
    const callsWhileDown = stack.ce.calls.length;

    dev = await startDev();
    client = connect();
    const handle = client.workflow.getHandle(workflowIdFor(uuid));
    const result = (await handle.result()) as {
      version: number;
      total: string;
      billingWindow: { start: string; end: string };
    };
    expect(result.version).toBe(1);
    expect(result.billingWindow).toEqual(
      computeBillingWindow({ leaseStart: startDate, leaseEnd: event.time, paddingHours: 1 }),
    );
    expect(result.total).toBe(stack.ce.expectedTotal({ accountId, ...result.billingWindow, recordType: 'Usage' }));
    expect(Number(result.total)).toBeGreaterThan(0);
    expect(stack.ce.calls.length).toBeGreaterThan(callsWhileDown);
    const runs = await listWhenSettled(
      client,
      `WorkflowId = '${workflowIdFor(uuid)}'`,
      (wf) => wf.status.name,
      (found) => found.length > 0 && !found.includes('RUNNING'),
    );
    expect(runs).toEqual(['COMPLETED']);
    await client.connection.close();
    // Two full starts of `dev` (dev server, workflow bundle, worker, webhook, ledger) and a stop:
    // about a minute of work on a 2-core machine running the rest of the suite beside it.
  }, 150_000);
});
