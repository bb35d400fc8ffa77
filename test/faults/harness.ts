// Shared by the fault-injection cases: a batch of leases on the real stack, a worker in a child
// process (so it can be SIGKILLed), and the end-of-case assertions every case makes.
import { createHash, randomUUID } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { parse } from 'csv-parse/sync';
import Decimal from 'decimal.js';
import { expect } from 'vitest';
import { reportKey } from '../../src/domain/collection';
import { computeBillingWindow } from '../../src/domain/billing-window';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { DateRange } from '../../src/domain/schemas';
import { spawnManaged, type ManagedProcess } from '../../support/tools';
import type { LeaseCostsResult } from '../../workflows';
import type { FakeCeCall } from '../../support/fakes/cost-explorer';
import { awsEnvFor, type EventEnvelope } from '../../support/aws';
import { dailyCosts, type Stack } from '../helpers/stack';
import { builtBin, workflowBundleEnv } from '../helpers/cli';
import { waitFor } from '../helpers/wait';

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface FaultLease {
  uuid: string;
  userEmail: string;
  accountId: string;
  startDate: string;
  terminatedAt: string;
  window: DateRange;
}

/** A random 12-digit account id: Cost Explorer calls are told apart by it. */
const newAccountId = () => String(100_000_000_000 + Math.floor(Math.random() * 899_999_999_999));

/**
 * `count` leases, each with its own account, known to the ISB fake, with `resources` resources
 * billed every day of the window (odd amounts with many decimals, so any lost or doubled page
 * shows in the total). With 1 h padding, each settle timer fires `settleInMs` from now.
 */
export function makeLeases(
  stack: Stack,
  count: number,
  opts: { resources?: number; settleInMs?: number; daysAgo?: number } = {},
): FaultLease[] {
  const now = Date.now();
  return Array.from({ length: count }, (_, l) => {
    const accountId = newAccountId();
    const lease: FaultLease = {
      uuid: randomUUID(),
      userEmail: `fault-${randomUUID().slice(0, 8)}@example.gov.uk`,
      accountId,
      startDate: new Date(now - (opts.daysAgo ?? 2) * DAY).toISOString(),
      terminatedAt: new Date(now - HOUR + (opts.settleInMs ?? 1000)).toISOString(),
      window: { start: '', end: '' },
    };
    lease.window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd: lease.terminatedAt, paddingHours: 1 });
    stack.isb.addLease({
      uuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId,
      startDate: lease.startDate,
      status: 'Expired',
    });
    for (let r = 0; r < (opts.resources ?? 6); r++) {
      stack.ce.addCosts(
        dailyCosts({
          accountId,
          start: lease.window.start,
          end: lease.window.end,
          service: `Fault Service ${r % 3}`,
          resourceId: `arn:aws:ec2:eu-west-2:${accountId}:volume/vol-${l}-${r}`,
          region: 'eu-west-2',
          amount: `0.${String(r + 1).padStart(3, '0')}0000000${l}7`,
        }),
      );
    }
    return lease;
  });
}

/** Starts one workflow per lease on the stack's task queue, as the webhook would (no re-run window). */
export async function startLeases(stack: Stack, leases: FaultLease[], client: Client = stack.client): Promise<void> {
  for (const lease of leases) {
    const started = await startLeaseCosts(client, stack.config.TEMPORAL_TASK_QUEUE, {
      leaseUuid: lease.uuid,
      userEmail: lease.userEmail,
      accountId: lease.accountId,
      terminatedAt: lease.terminatedAt,
      paddingHours: 1,
      rerunWindowHours: 0,
    });
    expect(started.status).toBe('started');
  }
}

/**
 * Waits until every workflow has completed, polling `describe` (which, unlike a long-poll for the
 * result, survives a server restart), and returns the results. Fails at once on a failed run.
 */
export async function awaitCompletion(
  client: Client,
  leases: FaultLease[],
  timeoutMs: number,
): Promise<LeaseCostsResult[]> {
  const pending = new Set(leases.map((l) => l.uuid));
  await waitFor(
    async () => {
      for (const uuid of [...pending]) {
        const { status } = await client.workflow.getHandle(workflowIdFor(uuid)).describe();
        if (status.name === 'COMPLETED') pending.delete(uuid);
        else if (status.name !== 'RUNNING') throw new FatalWorkflowState(`${workflowIdFor(uuid)} ended ${status.name}`);
      }
      return pending.size === 0 ? true : undefined;
    },
    timeoutMs,
    `${leases.length} workflows to complete`,
  ).catch((err: Error) => {
    throw new Error(`${err.message} (still running: ${[...pending].join(', ') || 'none'})`);
  });
  return Promise.all(
    leases.map((l) => client.workflow.getHandle(workflowIdFor(l.uuid)).result() as Promise<LeaseCostsResult>),
  );
}
class FatalWorkflowState extends Error {}

const received = new Map<string, EventEnvelope[]>();

/**
 * Every LeaseCostsReportPublished event (the one naming the version) the stack's capture has
 * delivered so far (kept across cases). The LeaseCostsGenerated beside each is drained too, so the
 * capture checks it against its consumer's contract.
 */
async function eventsSoFar(stack: Stack): Promise<EventEnvelope[]> {
  const all = received.get(stack.published.queueUrl) ?? [];
  received.set(stack.published.queueUrl, all);
  const [published] = await Promise.all([stack.published.receiveAll(2_000), stack.events.receiveAll(2_000)]);
  all.push(...published);
  return all;
}

/** The LeaseCostsReportPublished events for one lease that the stack's capture has delivered so far. */
export async function eventsFor(stack: Stack, lease: FaultLease): Promise<EventEnvelope[]> {
  return (await eventsSoFar(stack)).filter((e) => (e.detail as { leaseId?: string }).leaseId === lease.uuid);
}

/**
 * What every fault case must end with, for every lease:
 * - its workflow completed (the caller got `results` from awaitCompletion);
 * - the report's total, the CSV's Cost column and the event's exact total all equal the fake's
 *   expected total for the lease's window, compared as strings;
 * - the stored object's SHA-256 is the one reported;
 * - exactly one report object per (lease, version) under the report prefix (staging parts aside);
 * - at least one event per version, and any duplicates carry the same idempotencyKey.
 */
export async function assertBatchOutcome(
  stack: Stack,
  leases: FaultLease[],
  results: LeaseCostsResult[],
  versions: number[] = [1],
): Promise<void> {
  expect(results).toHaveLength(leases.length);
  const events = await eventsSoFar(stack);
  const prefix = stack.config.S3_KEY_PREFIX;
  for (const [i, lease] of leases.entries()) {
    const result = results[i]!;
    const expected = stack.ce.expectedTotal({ accountId: lease.accountId, ...lease.window, recordType: 'Usage' });
    expect(Number(expected), 'test data gives every lease a non-zero total').toBeGreaterThan(0);
    expect(result.billingWindow, `window of ${lease.uuid}`).toEqual(lease.window);
    expect(result.total, `total of ${lease.uuid}`).toBe(expected);

    const latest = versions[versions.length - 1]!;
    expect(result.version).toBe(latest);
    const object = await stack.getObject(result.key);
    expect(object.checksumSha256, `stored checksum of ${result.key}`).toBe(
      createHash('sha256').update(object.body).digest('base64'),
    );
    expect(object.checksumSha256).toBe(result.checksumSha256);
    const [header, ...rows] = parse(object.body.toString('utf8'), { record_delimiter: '\r\n' }) as string[][];
    expect(header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
    expect(rows.reduce((sum, r) => sum.plus(r[3]!), new Decimal(0)).toFixed(), `CSV sum of ${result.key}`).toBe(
      expected,
    );

    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await stack.s3.send(
        new ListObjectsV2Command({
          Bucket: stack.config.S3_BUCKET_NAME,
          Prefix: `${prefix}${lease.uuid}/`,
          ContinuationToken: token,
        }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.NextContinuationToken;
    } while (token);
    const reports = keys.filter((k) => !k.startsWith(`${prefix}${lease.uuid}/staging/`)).sort();
    // Each version's CSV, the summary beside it and the HTML report made from that, once each.
    const objects = ['csv', 'summary', 'chart'] as const;
    expect(reports, `report objects of ${lease.uuid}`).toEqual(
      versions.flatMap((v) => objects.map((o) => reportKey(prefix, lease.uuid, v, o))).sort(),
    );

    const mine = events.filter((e) => (e.detail as { leaseId?: string }).leaseId === lease.uuid);
    for (const v of versions) {
      const ofVersion = mine.filter((e) => (e.detail as { reportVersion?: number }).reportVersion === v);
      expect(ofVersion.length, `events for ${lease.uuid} v${v}`).toBeGreaterThanOrEqual(1);
      for (const e of ofVersion) {
        expect(e.detail).toMatchObject({
          idempotencyKey: `${lease.uuid}:v${v}`,
          s3Key: reportKey(prefix, lease.uuid, v),
        });
        if (v === latest)
          expect(e.detail).toMatchObject({ totalCostExact: expected, checksumSha256: result.checksumSha256 });
      }
    }
    expect(
      mine.filter((e) => !versions.includes((e.detail as { reportVersion?: number }).reportVersion!)),
      `events of unknown versions for ${lease.uuid}`,
    ).toEqual([]);
  }
}

/**
 * Resolves once every lease's `activityType` is on its second attempt or later, each having last
 * failed with `failureType`: the fault has met every lease.
 */
export const untilEveryLeaseRetried = (
  stack: Stack,
  leases: FaultLease[],
  activityType: string,
  failureType: string,
  /** The run that schedules the activity: the lease's own, or its collection child. */
  workflowIdOf = (lease: FaultLease) => workflowIdFor(lease.uuid),
) =>
  waitFor(
    async () => {
      for (const lease of leases) {
        const { raw } = await stack.client.workflow.getHandle(workflowIdOf(lease)).describe();
        const pending = raw.pendingActivities?.find((a) => a.activityType?.name === activityType);
        if (!pending || (pending.attempt ?? 0) < 2) return undefined;
        expect(
          pending.lastFailure?.applicationFailureInfo?.type,
          `last failure of ${activityType} for ${lease.uuid}`,
        ).toBe(failureType);
      }
      return true;
    },
    40_000,
    `every lease to fail ${activityType} once`,
  );

/** The fake's log of Cost Explorer calls made for one lease (told apart by its account). */
export function ceCallsFor(stack: Stack, lease: Pick<FaultLease, 'accountId'>): FakeCeCall[] {
  return stack.ce.calls.filter((c) => JSON.stringify(c.request ?? '').includes(lease.accountId));
}

/** Resolves once every lease has read its first page: collection is under way for all of them. */
export const untilCollecting = (stack: Stack, leases: FaultLease[]) =>
  waitFor(
    async () => (leases.every((l) => ceCallsFor(stack, l).some((c) => c.status === 200)) ? true : undefined),
    30_000,
    'first pages',
  );

/** Successful page fetches of a lease, keyed by query (operation, period, region, granularity) and page, with how often each was fetched. */
export function pageFetchCounts(stack: Stack, lease: Pick<FaultLease, 'accountId'>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const c of ceCallsFor(stack, lease)) {
    if (c.status !== 200) continue;
    const {
      TimePeriod: tp,
      Granularity,
      Filter,
    } = c.request as { TimePeriod?: { Start?: string; End?: string }; Granularity?: string; Filter?: unknown };
    const region = /"Key":"REGION","Values":\["([^"]*)"/.exec(JSON.stringify(Filter))?.[1] ?? '*';
    const k = `${c.operation} ${tp?.Start}..${tp?.End} ${region} ${Granularity} page ${c.pageIndex}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Pages of a lease fetched more than once, e.g. `["GetCostAndUsageWithResources 2026-11-23..2026-11-26 page 3 ×2"]`. */
export function refetchedPages(stack: Stack, lease: Pick<FaultLease, 'accountId'>): string[] {
  return [...pageFetchCounts(stack, lease)].filter(([, n]) => n > 1).map(([k, n]) => `${k} ×${n}`);
}

/** The environment `lease-costs worker` gets in these tests: the stack's config, moto, the fakes. */
export function workerEnv(stack: Stack, overrides: Record<string, string> = {}): NodeJS.ProcessEnv {
  const c = stack.config;
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...awsEnvFor(stack.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint }),
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE: c.TEMPORAL_NAMESPACE,
    TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
    COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN,
    S3_BUCKET_NAME: c.S3_BUCKET_NAME,
    S3_KEY_PREFIX: c.S3_KEY_PREFIX,
    EVENT_BUS_NAME: c.EVENT_BUS_NAME,
    ISB_API_BASE_URL: c.ISB_API_BASE_URL,
    ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH,
    DATABASE_URL: c.DATABASE_URL,
    ...workflowBundleEnv(),
    ...overrides,
  };
}

/** `lease-costs worker` in a child process (its own process group), resolved once it polls. */
export async function startChildWorker(env: NodeJS.ProcessEnv): Promise<ManagedProcess> {
  const proc = spawnManaged(process.execPath, [builtBin(), 'worker'], { env });
  let out = '';
  proc.process.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  try {
    await waitFor(
      async () => {
        if (proc.hasExited()) throw new Error(`worker exited early:\n${proc.outputTail()}`);
        return /"msg":"Worker started"/.test(out) ? true : undefined;
      },
      90_000,
      'the worker to start',
    );
  } catch (err) {
    await proc.stop(2_000);
    throw err;
  }
  return proc;
}

/** `kill -9` of the worker's whole process group: no shutdown, no last heartbeat, no goodbye. */
export async function killHard(proc: ManagedProcess): Promise<void> {
  process.kill(-proc.process.pid!, 'SIGKILL');
  const how = await Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('timeout'), 10_000))]);
  expect(how).toBe('SIGKILL');
}
