import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { settleUntil } from '../../src/domain/billing-window';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseStatus } from '../../src/domain/schemas';
import { SAMPLE_TERMINATION_REASONS } from '../../support/fakes/sample-data';
import { runCli } from '../helpers/cli';
import { fetchHistory } from '../helpers/temporal';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

const HOUR = 3600_000;
let stack: Stack;
let cliEnv: Record<string, string>;

beforeAll(async () => {
  stack = await startStack();
  await stack.startWorker();
  cliEnv = { TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE: stack.config.TEMPORAL_TASK_QUEUE };
});
afterAll(async () => stack?.stop());

function lease(opts: { settleInMs: number; rerunWindowHours?: number }) {
  const l = {
    uuid: randomUUID(),
    userEmail: `ops-${randomUUID().slice(0, 6)}@example.gov.uk`,
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
  const input = {
    leaseUuid: l.uuid,
    userEmail: l.userEmail,
    accountId: l.accountId,
    terminatedAt: new Date(now - HOUR + opts.settleInMs).toISOString(),
    paddingHours: 1,
    rerunWindowHours: opts.rerunWindowHours ?? 0,
    terminationReason: SAMPLE_TERMINATION_REASONS.ProvisioningFailed,
  };
  return { ...l, input, start: () => startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, input) };
}

const query = (uuid: string) => stack.client.workflow.getHandle(workflowIdFor(uuid)).query<LeaseStatus>('status');

// A whole run (lookup, pages, report, events, ledger) beside four other busy test files on 2 cores:
// its time is the machine's contention, not a claim of ours, so the budget is a minute.
const published = (uuid: string, version: number) =>
  waitFor(
    async () => {
      const s = await query(uuid);
      return s.phase === 'published' && s.reports.at(-1)?.version === version ? s : undefined;
    },
    60_000,
    `lease ${uuid} to publish v${version}`,
  );
/** LeaseCostsReportPublished: the event that names the version, its key and the exact total. */
const eventsFor = async (uuid: string) =>
  (await stack.published.receiveAll<Record<string, unknown>>(1500)).filter((e) => e.detail.leaseId === uuid);

describe('operating lease runs', () => {
  it('collect-now during a one-hour delay produces the report within seconds', async () => {
    const l = lease({ settleInMs: HOUR });
    await l.start();
    const waiting = await waitFor(async () => ((await query(l.uuid)).phase === 'waiting' ? true : undefined));
    expect(waiting).toBe(true);
    const status = await runCli(['status', l.uuid], cliEnv);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/phase\s+waiting/);
    expect(status.stdout).toContain(`settle until ${settleUntil(l.input.terminatedAt, 1)}`);
    expect(status.stdout).toMatch(/\nended\s+ProvisioningFailed: Blueprint deployment failed\n/);

    const res = await runCli(['collect-now', l.uuid], cliEnv);
    expect(res.code).toBe(0);
    const done = await published(l.uuid, 1);
    // Measured by the server's clock, from the signal in history to the report: the CLI process's
    // own start-up (several seconds on a loaded machine) is not what collect-now is about.
    const history = await fetchHistory(stack.client, workflowIdFor(l.uuid));
    const signal = history.events!.find((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'collectNow');
    expect(signal).toBeDefined();
    const signalledAt =
      Number(String(signal!.eventTime!.seconds)) * 1000 + Math.floor((signal!.eventTime!.nanos ?? 0) / 1e6);
    expect(Date.parse(done.reports.at(-1)!.publishedAt) - signalledAt).toBeLessThan(20_000);
  });

  it('re-runs: a signal while open gives v2 with a new key and event; after close the CLI starts v3 in a new run', async () => {
    const l = lease({ settleInMs: 1000, rerunWindowHours: 8 / 3600 });
    await l.start();
    const v1 = await published(l.uuid, 1);
    await stack.client.workflow.getHandle(workflowIdFor(l.uuid)).signal('rerun', {});
    const v2 = await published(l.uuid, 2);
    expect(v2.reports.map((r) => r.version)).toEqual([1, 2]);
    expect(v2.reports[1]!.key).not.toBe(v1.reports[0]!.key);

    // Wait for the re-run window to close, then re-run from the CLI.
    const handle = stack.client.workflow.getHandle(workflowIdFor(l.uuid));
    const firstChainResult = (await handle.result()) as { version: number };
    expect(firstChainResult.version).toBe(2);
    const res = await runCli(['rerun', l.uuid, '--json'], cliEnv);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ mode: 'started' });
    const v3 = await published(l.uuid, 3);
    expect(new Set(v3.reports.map((r) => r.key)).size).toBe(v3.reports.length);

    const events = await eventsFor(l.uuid);
    expect(events.map((e) => e.detail.reportVersion).sort()).toEqual([1, 2, 3]);
    expect(new Set(events.map((e) => e.detail.s3Key)).size).toBe(3);
    for (const e of events)
      expect(e.detail.totalCostExact).toBe(v3.reports.find((r) => r.version === e.detail.reportVersion)!.total);
    // The reason travels through the rerun signal's continue-as-new and the CLI's new run alike.
    for (const e of events) expect(e.detail.terminationReason).toEqual(l.input.terminationReason);
  }, 180_000);

  it('status follows each phase, and visibility finds the run by LeaseUuid and AwsAccountId', async () => {
    const l = lease({ settleInMs: 2000 });
    stack.ce.setDelayMs(1500);
    try {
      await l.start();
      const seen = new Set<string>();
      await waitFor(async () => {
        const s = await query(l.uuid);
        seen.add(s.phase);
        return s.phase === 'published' ? s : undefined;
      });
      expect(seen.has('waiting')).toBe(true);
      expect(seen.has('collecting')).toBe(true);
      expect(seen.has('published')).toBe(true);
    } finally {
      stack.ce.resetFaults();
    }
    // Every phase the status showed was also upserted to LeasePhase, in order.
    const history = await fetchHistory(stack.client, workflowIdFor(l.uuid));
    const phases = history.events!.flatMap((e) => {
      const p = e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.LeasePhase;
      return p?.data ? [JSON.parse(Buffer.from(p.data).toString())] : [];
    });
    expect(phases).toEqual(['waiting', 'collecting', 'reporting', 'published']);

    const byLease = await waitFor(async () => {
      const found = [];
      for await (const w of stack.client.workflow.list({
        query: `LeaseUuid = "${l.uuid}" AND LeasePhase = "published"`,
      }))
        found.push(w.workflowId);
      return found.length ? found : undefined;
    });
    expect(byLease).toEqual([workflowIdFor(l.uuid)]);
    const byAccount = [];
    for await (const w of stack.client.workflow.list({ query: `AwsAccountId = "${l.accountId}"` }))
      byAccount.push(w.workflowId);
    expect(byAccount).toContain(workflowIdFor(l.uuid));

    const cli = await runCli(['status', l.uuid, '--json'], cliEnv);
    expect(JSON.parse(cli.stdout)).toMatchObject({ phase: 'published', reports: [{ version: 1 }] });
  });

  it('status shows failed with the named error; unknown leases and unreachable servers exit non-zero', async () => {
    const l = lease({ settleInMs: 0 });
    stack.isb.removeLease(l.userEmail, l.uuid);
    await l.start();
    const failed = await waitFor(async () => {
      const s = await query(l.uuid);
      return s.phase === 'failed' ? s : undefined;
    });
    expect(failed.lastError?.type).toBe('LeaseNotFound');
    const cli = await runCli(['status', l.uuid], cliEnv);
    expect(cli.stdout).toMatch(/phase\s+failed/);
    expect(cli.stdout).toContain('LeaseNotFound');

    const unknown = await runCli(['status', randomUUID()], cliEnv);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain('no workflow for lease');
    const unreachable = await runCli(['status', randomUUID()], { ...cliEnv, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(unreachable.code).toBe(4);
    expect(unreachable.stderr).toContain('cannot reach Temporal');
    const bad = await runCli(['status', 'not-a-uuid'], cliEnv);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('must be a lease uuid');
  });
});
