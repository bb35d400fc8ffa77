import { createHash, randomUUID } from 'node:crypto';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { parse } from 'csv-parse/sync';
import Decimal from 'decimal.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBillingWindow, monthOfMostDays, utcDay } from '../../src/domain/billing-window';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import type { LeaseCostsResult } from '../../workflows';
import type { FakeCostItem } from '../../support/fakes/cost-explorer';
import { SAMPLE_TERMINATION_REASONS } from '../../support/fakes/sample-data';
import type { TerminationReason } from '../../src/domain/schemas';
import { ceCallsFor, refetchedPages } from '../faults/harness';
import { rawHistoryText } from '../helpers/history';
import { fetchHistory, recordHistory, workflowBundlePath } from '../helpers/temporal';
import { dailyCosts, ROLE_ARN, startStack, type Stack } from '../helpers/stack';

const HOUR = 3600_000;
const ACCOUNT = '210987654321';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  await stack.startWorker();
});
afterAll(async () => stack?.stop());

/** A lease that ended `padding` ago minus a few seconds: the settle timer fires almost at once. */
function newLease(opts: {
  daysAgo: number;
  accountId?: string;
  settleInMs?: number;
  terminationReason?: TerminationReason;
}) {
  const now = Date.now();
  const lease = {
    uuid: randomUUID(),
    userEmail: `user-${randomUUID().slice(0, 8)}@example.gov.uk`,
    accountId: opts.accountId ?? ACCOUNT,
    startDate: new Date(now - opts.daysAgo * 24 * HOUR).toISOString(),
    terminatedAt: new Date(now - HOUR + (opts.settleInMs ?? 3000)).toISOString(),
    paddingHours: 1,
    terminationReason: opts.terminationReason,
  };
  stack.isb.addLease({
    uuid: lease.uuid,
    userEmail: lease.userEmail,
    accountId: lease.accountId,
    startDate: lease.startDate,
    status: 'Expired',
  });
  const window = computeBillingWindow({ leaseStart: lease.startDate, leaseEnd: lease.terminatedAt, paddingHours: 1 });
  return { ...lease, window };
}

const start = (lease: ReturnType<typeof newLease>) =>
  startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
    leaseUuid: lease.uuid,
    userEmail: lease.userEmail,
    accountId: lease.accountId,
    terminatedAt: lease.terminatedAt,
    paddingHours: lease.paddingHours,
    rerunWindowHours: 0,
    ...(lease.terminationReason ? { terminationReason: lease.terminationReason } : {}),
  });

const result = (uuid: string) =>
  stack.client.workflow.getHandle(workflowIdFor(uuid)).result() as Promise<LeaseCostsResult>;

/** CSV → rows with the formula guard's leading quote removed from text cells. */
function readCsv(body: Buffer) {
  const [header, ...rows] = parse(body.toString('utf8'), {
    relax_quotes: false,
    record_delimiter: '\r\n',
  }) as string[][];
  const unguard = (s: string) => (/^'[=+\-@|%\t\r]/.test(s) ? s.slice(1) : s);
  return {
    header,
    rows: rows.map(([name, service, region, cost]) => ({
      name: unguard(name!),
      service: unguard(service!),
      region: unguard(region!),
      cost: cost!,
    })),
  };
}

const addDay = (d: string, n: number) =>
  new Date(Date.parse(`${d}T00:00:00Z`) + n * 24 * HOUR).toISOString().slice(0, 10);

describe('lease-cost pipeline on a real Temporal dev server, moto and the fakes', () => {
  it('publishes an exact, verified CSV, a working presigned URL, one drop-in LeaseCostsGenerated and one LeaseCostsReportPublished', async () => {
    const lease = newLease({ daysAgo: 3, terminationReason: SAMPLE_TERMINATION_REASONS.BudgetExceeded });
    const { start: from, end: to } = lease.window;
    const resources = [
      {
        service: 'Amazon Elastic Compute Cloud - Compute',
        resourceId: `arn:aws:ec2:eu-west-2:${ACCOUNT}:instance/i-0abc`,
        region: 'eu-west-2',
        amount: '1.2345678901',
      },
      {
        service: 'Amazon Simple Storage Service',
        resourceId: 'arn:aws:s3:::bucket,with,commas',
        region: 'us-east-1',
        amount: '0.0000000007',
      },
      { service: 'AWS Lambda', resourceId: '=HYPERLINK("http://evil.example")', region: 'eu-west-2', amount: '0.5' },
      {
        service: 'Amazon "Quoted" Service',
        resourceId: 'name with\nnewline, and "quotes"',
        region: 'eu-west-2',
        amount: '2',
      },
      { service: 'AWS Support', resourceId: 'refund-thing', region: 'us-east-1', amount: '-1.25' },
    ];
    // Data outside the window, another account and a credit must all stay out of the report.
    const items: FakeCostItem[] = resources.flatMap((r) =>
      dailyCosts({ accountId: ACCOUNT, start: addDay(from, -3), end: addDay(to, 2), ...r }),
    );
    items.push({
      accountId: '999999999999',
      date: from,
      service: 'AWS Lambda',
      resourceId: 'other',
      region: 'us-east-1',
      amount: '1000',
    });
    items.push({
      accountId: ACCOUNT,
      date: from,
      service: 'AWS Lambda',
      resourceId: 'credit',
      region: 'us-east-1',
      amount: '-100',
      recordType: 'Credit',
    });
    stack.ce.addCosts(items);

    const started = await start(lease);
    expect(started.status).toBe('started');
    const summary = await result(lease.uuid);

    const expectedTotal = stack.ce.expectedTotal({ accountId: ACCOUNT, start: from, end: to, recordType: 'Usage' });
    const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / (24 * HOUR);
    expect(summary.total).toBe(expectedTotal);
    expect(summary.resourceLevel).toBe('used');

    // The object, its stored checksum and our own hash of its bytes agree.
    const object = await stack.getObject(summary.key);
    const sha = createHash('sha256').update(object.body).digest('base64');
    expect(object.checksumSha256).toBe(sha);
    expect(summary.checksumSha256).toBe(sha);

    const csv = readCsv(object.body);
    expect(csv.header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
    const expectedRows = resources.map((r) => ({
      name: r.resourceId,
      service: r.service,
      // From Cost Explorer's REGION dimension, whatever the id looks like.
      region: r.region,
      cost: new Decimal(r.amount).times(days).toFixed(),
    }));
    expect(csv.rows).toHaveLength(expectedRows.length);
    expect(new Set(csv.rows.map((r) => JSON.stringify(r)))).toEqual(
      new Set(expectedRows.map((r) => JSON.stringify(r))),
    );
    const csvTotal = csv.rows.reduce((sum, r) => sum.plus(r.cost), new Decimal(0)).toFixed();
    expect(csvTotal).toBe(expectedTotal);
    expect(object.body.toString()).toContain(`'=HYPERLINK`);
    expect(object.body.toString()).not.toMatch(/e-\d/);

    // The drop-in, exactly as its consumer accepts it (the capture checks every field), and the report's details beside it.
    const events = (await stack.events.receiveAll<Record<string, unknown>>(3000)).filter(
      (e) => e.detail.leaseId === lease.uuid,
    );
    expect(events).toHaveLength(1);
    const detail = events[0]!.detail;
    expect(events[0]!.source).toBe('isb-costs');
    expect(events[0]!['detail-type']).toBe('LeaseCostsGenerated');
    expect(detail).toEqual({
      leaseId: lease.uuid,
      userEmail: lease.userEmail,
      accountId: ACCOUNT,
      currency: 'USD',
      // The billing window, as the Lambda it replaces sent it: endDate is the exclusive end.
      startDate: from,
      endDate: to,
      totalCost: new Decimal(expectedTotal).toDecimalPlaces(2).toNumber(),
      csvUrl: expect.any(String),
      urlExpiresAt: expect.any(String),
    });
    const reports = (await stack.published.receiveAll<Record<string, unknown>>(3000)).filter(
      (e) => e.detail.leaseId === lease.uuid,
    );
    expect(reports).toHaveLength(1);
    expect(reports[0]!.source).toBe('isb-costs');
    expect(reports[0]!['detail-type']).toBe('LeaseCostsReportPublished');
    const report = reports[0]!.detail;
    expect(report).toEqual({
      schemaVersion: 1,
      leaseId: lease.uuid,
      userEmail: lease.userEmail,
      accountId: ACCOUNT,
      totalCostExact: expectedTotal,
      currency: 'USD',
      costScope: 'usage',
      reportVersion: 1,
      s3Bucket: stack.config.S3_BUCKET_NAME,
      s3Key: summary.key,
      checksumSha256: sha,
      rowCount: resources.length,
      resourceLevel: 'used',
      billingPeriodStart: from,
      billingPeriodEndExclusive: to,
      reportUrl: expect.any(String),
      urlExpiresAt: detail.urlExpiresAt,
      focusKey: null,
      terminationReason: lease.terminationReason,
      idempotencyKey: `${lease.uuid}:v1`,
      // The ISB record as the fake stores it: no group, its template, budget and accrued cost.
      costReportGroup: null,
      originalLeaseTemplateName: 'sandbox',
      maxSpend: '50',
      totalCostAccrued: '0',
      sharedDays: expect.any(Array),
    });

    const download = await fetch(detail.csvUrl as string);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(object.body)).toBe(true);
    expect(Date.parse(detail.urlExpiresAt as string) - Date.now()).toBeGreaterThan(6.9 * 24 * HOUR);
    // reportUrl: the HTML report beside the CSV, with the same exact total and hostile names as text.
    const page = await fetch(report.reportUrl as string);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain(`<dd class="total" id="total">${expectedTotal} USD</dd>`);
    expect(html).toContain('<td class="name">=HYPERLINK(&#34;http://evil.example&#34;)</td>');
    expect(html).toContain('newline, and &#34;quotes&#34;</td>');

    // Cost Explorer was read with the assumed role's temporary credentials, which history never saw.
    const ceCalls = stack.ce.calls.filter((c) => JSON.stringify(c.request).includes(ACCOUNT));
    expect(ceCalls.length).toBeGreaterThan(0);
    for (const c of ceCalls) {
      expect(c.accessKeyId).toMatch(/^ASIA/);
      expect(c.hasSessionToken).toBe(true);
    }
    // The lease's run and its collection child, where the Cost Explorer calls happen.
    const history = [workflowIdFor(lease.uuid), `${workflowIdFor(lease.uuid)}-collect-v1`].map(async (id) =>
      rawHistoryText(await fetchHistory(stack.client, id)),
    );
    const historyText = (await Promise.all(history)).join('\n');
    // Control: without payload encryption the lease's own data is readable, so the search works.
    expect(historyText).toContain(lease.userEmail);
    expect(historyText).toContain('collectCostsPage');
    const secrets = [...new Set(ceCalls.flatMap((c) => [c.accessKeyId!, ...(c.sessionToken ? [c.sessionToken] : [])]))];
    for (const secret of [...secrets, stack.isb.secret]) expect(historyText).not.toContain(secret);
    expect(historyText).not.toMatch(/SecretAccessKey|SessionToken|X-Amz-Signature|X-Amz-Credential/i);

    // The fresh history replays against the current workflow code.
    const recorded = await fetchHistory(stack.client, workflowIdFor(lease.uuid));
    await Worker.runReplayHistory(
      { workflowBundle: { codePath: workflowBundlePath() } },
      recorded,
      workflowIdFor(lease.uuid),
    );
    await recordHistory('published-v1', recorded);
    await recordHistory('collect-v1', await fetchHistory(stack.client, `${workflowIdFor(lease.uuid)}-collect-v1`));
  });

  it('pages through 30+ pages under throttling, and resumes mid-pagination without refetching a page', async () => {
    const lease = newLease({ daysAgo: 5, accountId: '333344445555' });
    // 300 resources with costs every day: 30 resource pages at 10 a page, whether or not the days
    // span two months (then the resource days narrow to one month, which still has all 300).
    const items = Array.from({ length: 300 }, (_, i) =>
      dailyCosts({
        accountId: lease.accountId,
        start: lease.window.start,
        end: lease.window.end,
        service: `Service ${i % 7}`,
        resourceId: `arn:aws:ec2:us-east-1:${lease.accountId}:volume/vol-${i}`,
        region: 'us-east-1',
        amount: `0.${String(i).padStart(4, '0')}1`,
      }),
    ).flat();
    stack.ce.addCosts(items);
    stack.ce.setPageSize(10);
    stack.ce.setThrottle({ everyNth: 12 });
    stack.ce.failAt({ pageIndex: 17, status: 500, times: 1 });
    try {
      await start(lease);
      const summary = await result(lease.uuid);
      expect(summary.total).toBe(
        stack.ce.expectedTotal({
          accountId: lease.accountId,
          start: lease.window.start,
          end: lease.window.end,
          recordType: 'Usage',
        }),
      );
      // One resource line each, and when the days span two months, a (service level) line per
      // service for the other month's days.
      const spansTwoMonths = monthOfMostDays(lease.window) !== undefined;
      expect(summary.rowCount).toBe(spansTwoMonths ? 307 : 300);

      const calls = stack.ce.calls.filter((c) => JSON.stringify(c.request).includes(lease.accountId));
      const pages = calls.filter((c) => c.status === 200);
      expect(pages.length).toBeGreaterThanOrEqual(30);
      expect(calls.some((c) => c.errorCode === 'LimitExceededException')).toBe(true);
      expect(calls.some((c) => c.status >= 500 && c.pageIndex === 17)).toBe(true);
      // Every page arrived exactly once: retries resumed from the last page's token.
      expect(refetchedPages(stack, lease)).toEqual([]);
    } finally {
      stack.ce.resetFaults();
      stack.ce.setPageSize(500);
    }
  });

  it('uses resource-level data for the last 14 days and service level before them', async () => {
    const lease = newLease({ daysAgo: 20, accountId: '444455556666' });
    stack.ce.addCosts(
      dailyCosts({
        accountId: lease.accountId,
        start: lease.window.start,
        end: lease.window.end,
        service: 'Amazon Relational Database Service',
        resourceId: `arn:aws:rds:eu-west-1:${lease.accountId}:db:main`,
        region: 'eu-west-1',
        amount: '3.3',
      }),
    );
    await start(lease);
    const summary = await result(lease.uuid);
    const csv = readCsv((await stack.getObject(summary.key)).body);
    const horizon = addDay(utcDay(new Date().toISOString()), -13);
    const recentDays = (Date.parse(`${lease.window.end}T00:00:00Z`) - Date.parse(`${horizon}T00:00:00Z`)) / (24 * HOUR);
    const olderDays =
      (Date.parse(`${horizon}T00:00:00Z`) - Date.parse(`${lease.window.start}T00:00:00Z`)) / (24 * HOUR);
    expect(csv.rows).toEqual([
      {
        name: `arn:aws:rds:eu-west-1:${lease.accountId}:db:main`,
        service: 'Amazon Relational Database Service',
        region: 'eu-west-1',
        cost: new Decimal('3.3').times(recentDays).toFixed(),
      },
      {
        name: '(service level)',
        service: 'Amazon Relational Database Service',
        region: 'eu-west-1',
        cost: new Decimal('3.3').times(olderDays).toFixed(),
      },
    ]);
    expect(summary.total).toBe(new Decimal('3.3').times(recentDays + olderDays).toFixed());
    await recordHistory('resource-and-service-level', await fetchHistory(stack.client, workflowIdFor(lease.uuid)));
    const withResources = stack.ce.calls.filter(
      (c) => c.operation === 'GetCostAndUsageWithResources' && JSON.stringify(c.request).includes(lease.accountId),
    );
    expect(withResources.length).toBeGreaterThan(0);
  });

  it('falls back to a marked service-level report when resource-level data is disabled', async () => {
    const lease = newLease({ daysAgo: 2, accountId: '555566667777' });
    stack.ce.addCosts(
      dailyCosts({
        accountId: lease.accountId,
        start: lease.window.start,
        end: lease.window.end,
        service: 'AWS Glue',
        resourceId: 'job-1',
        region: 'eu-west-2',
        amount: '0.25',
      }),
    );
    stack.ce.setResourceLevelEnabled(false);
    try {
      await start(lease);
      const summary = await result(lease.uuid);
      expect(summary.resourceLevel).toBe('unavailable');
      const csv = readCsv((await stack.getObject(summary.key)).body);
      expect(csv.rows).toEqual([
        { name: '(service level)', service: 'AWS Glue', region: 'eu-west-2', cost: summary.total },
      ]);
      expect(summary.total).toBe(
        stack.ce.expectedTotal({
          accountId: lease.accountId,
          start: lease.window.start,
          end: lease.window.end,
          recordType: 'Usage',
        }),
      );
      const events = (await stack.published.receiveAll<Record<string, unknown>>(3000)).filter(
        (e) => e.detail.leaseId === lease.uuid,
      );
      expect(events.map((e) => e.detail.resourceLevel)).toEqual(['unavailable']);
    } finally {
      stack.ce.resetFaults();
    }
  });

  it('a lease that cost nothing still gets its report and a LeaseCostsGenerated with totalCost 0', async () => {
    // No Cost Explorer data for this account at all, as for a lease nobody used.
    const lease = newLease({
      daysAgo: 2,
      accountId: '101010101010',
      terminationReason: SAMPLE_TERMINATION_REASONS.Expired,
    });
    await start(lease);
    const summary = await result(lease.uuid);
    expect(summary).toMatchObject({ total: '0', rowCount: 0 });
    const csv = readCsv((await stack.getObject(summary.key)).body);
    expect(csv.header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
    expect(csv.rows).toEqual([]);
    const [generated, ...moreGenerated] = (await stack.events.receiveAll<Record<string, unknown>>(3000)).filter(
      (e) => e.detail.leaseId === lease.uuid,
    );
    expect(moreGenerated).toEqual([]);
    expect(generated!.detail).toMatchObject({
      totalCost: 0,
      currency: 'USD',
      startDate: lease.window.start,
      endDate: lease.window.end,
    });
    const [published] = (await stack.published.receiveAll<Record<string, unknown>>(3000)).filter(
      (e) => e.detail.leaseId === lease.uuid,
    );
    expect(published!.detail).toMatchObject({
      totalCostExact: '0',
      rowCount: 0,
      terminationReason: SAMPLE_TERMINATION_REASONS.Expired,
    });
  });

  it('gives every resource row the region Cost Explorer reports, ARN or not, exact per (resource, service, region)', async () => {
    const lease = newLease({ daysAgo: 3, accountId: '777788889999' });
    const costs = [
      {
        service: 'Amazon Elastic Compute Cloud - Compute',
        resourceId: 'i-0abc1234def567890',
        region: 'eu-west-2',
        amount: '0.0416',
      },
      { service: 'EC2 - Other', resourceId: 'vol-0123456789abcdef0', region: 'eu-west-1', amount: '0.0011' },
      {
        service: 'Amazon Simple Storage Service',
        resourceId: 'my-sandbox-bucket',
        region: 'us-east-1',
        amount: '0.000023',
      },
      // One id in two regions and two services: four rows, never merged.
      { service: 'Amazon Virtual Private Cloud', resourceId: 'NoResourceId', region: 'eu-west-2', amount: '0.5' },
      { service: 'Amazon Virtual Private Cloud', resourceId: 'NoResourceId', region: 'us-east-1', amount: '0.25' },
      { service: 'AWS Key Management Service', resourceId: 'NoResourceId', region: 'eu-west-2', amount: '0.1' },
      { service: 'AWS Key Management Service', resourceId: 'NoResourceId', region: 'us-east-1', amount: '0.05' },
    ];
    stack.ce.addCosts(
      costs.flatMap((c) =>
        dailyCosts({ accountId: lease.accountId, start: lease.window.start, end: lease.window.end, ...c }),
      ),
    );
    await start(lease);
    const summary = await result(lease.uuid);
    const csv = readCsv((await stack.getObject(summary.key)).body);
    const days =
      (Date.parse(`${lease.window.end}T00:00:00Z`) - Date.parse(`${lease.window.start}T00:00:00Z`)) / (24 * HOUR);
    const expected = costs.map((c) => ({
      name: c.resourceId,
      service: c.service,
      region: c.region,
      cost: new Decimal(c.amount).times(days).toFixed(),
    }));
    expect(new Set(csv.rows.map((r) => JSON.stringify(r)))).toEqual(new Set(expected.map((r) => JSON.stringify(r))));
    expect(csv.rows).toHaveLength(costs.length);
    expect(summary.total).toBe(
      stack.ce.expectedTotal({ accountId: lease.accountId, ...lease.window, recordType: 'Usage' }),
    );
    // One query to learn the regions, then as many resource queries as the most widespread service
    // has regions (VPC and KMS: 2), each service asked in one region per query.
    const calls = ceCallsFor(stack, lease).filter((c) => c.status === 200);
    expect(calls.map((c) => c.operation).sort()).toEqual([
      'GetCostAndUsage',
      ...Array(2).fill('GetCostAndUsageWithResources'),
    ]);
  });

  it('asks for resources DAILY when Cost Explorer refuses MONTHLY there, and stays exact', async () => {
    const lease = newLease({ daysAgo: 3, accountId: '888899990000' });
    stack.ce.addCosts(
      dailyCosts({
        accountId: lease.accountId,
        ...lease.window,
        service: 'AWS Lambda',
        resourceId: 'fn-a',
        region: 'eu-west-2',
        amount: '0.0000001',
      }),
    );
    stack.ce.addCosts(
      dailyCosts({
        accountId: lease.accountId,
        ...lease.window,
        service: 'AWS Lambda',
        resourceId: 'fn-b',
        region: 'us-east-1',
        amount: '1.1',
      }),
    );
    stack.ce.setMonthlyResourcesAccepted(false);
    try {
      await start(lease);
      const summary = await result(lease.uuid);
      expect(summary.resourceLevel).toBe('used');
      expect(summary.total).toBe(
        stack.ce.expectedTotal({ accountId: lease.accountId, ...lease.window, recordType: 'Usage' }),
      );
      expect(summary.rowCount).toBe(2);
      const resourceCalls = ceCallsFor(stack, lease).filter((c) => c.operation === 'GetCostAndUsageWithResources');
      // The first region's MONTHLY query is refused once; every later one asks DAILY straight away.
      expect(resourceCalls.map((c) => [(c.request as { Granularity?: string }).Granularity, c.status])).toEqual([
        ['MONTHLY', 400],
        ['DAILY', 200],
        ['DAILY', 200],
      ]);
    } finally {
      stack.ce.resetFaults();
    }
  });

  it('costs the account the ISB API gives: an event naming another account fails with LeaseMismatch and publishes nothing', async () => {
    const lease = newLease({ daysAgo: 1, accountId: '123412341207' });
    const forged = { ...lease, accountId: '123412341206' };
    stack.ce.addCosts(
      dailyCosts({
        accountId: forged.accountId,
        ...lease.window,
        service: 'AWS Lambda',
        resourceId: 'other',
        region: 'eu-west-2',
        amount: '5',
      }),
    );
    await start(forged);
    const err = await result(lease.uuid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let root = err as { cause?: unknown; type?: string; message?: string };
    while (root.cause) root = root.cause as typeof root;
    expect(root.type).toBe('LeaseMismatch');
    expect(root.message).toContain('account 123412341207');
    expect(ceCallsFor(stack, forged)).toEqual([]);
    expect(ceCallsFor(stack, lease)).toEqual([]);
    const listed = await stack.s3.send(
      new ListObjectsV2Command({
        Bucket: stack.config.S3_BUCKET_NAME,
        Prefix: `${stack.config.S3_KEY_PREFIX}${lease.uuid}/`,
      }),
    );
    expect(listed.KeyCount ?? 0).toBe(0);
    const events = (await stack.events.receiveAll<Record<string, unknown>>(2000)).filter(
      (e) => e.detail.leaseId === lease.uuid,
    );
    expect(events).toEqual([]);
  });

  it('fails at once with LeaseNotFound for a lease the ISB API does not know', async () => {
    const lease = { ...newLease({ daysAgo: 1 }), uuid: randomUUID() };
    await start(lease);
    const err = await result(lease.uuid).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as { cause?: { type?: string; message?: string } };
    expect(cause.cause?.type).toBe('LeaseNotFound');
    const history = await fetchHistory(stack.client, workflowIdFor(lease.uuid));
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
    // lookupLease once, then publishFailure (LeaseCostsFailed) once.
    expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual([1, 1]);
    await recordHistory('lease-not-found', history);
  });

  it('fails at once with a named error when the role may not read Cost Explorer', async () => {
    const lease = newLease({ daysAgo: 1, accountId: '666677778888' });
    stack.ce.setAccessDenied(true);
    try {
      await start(lease);
      const err = await result(lease.uuid).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      // Workflow ← child collection workflow ← page activity ← the named failure.
      let root = err as { cause?: unknown; type?: string; message?: string };
      while (root.cause) root = root.cause as typeof root;
      expect(root.type).toBe('CostExplorerAccessDenied');
      expect(root.message).toContain(ROLE_ARN);
      const attempts = async (workflowId: string) =>
        (await fetchHistory(stack.client, workflowId))
          .events!.filter((e) => e.activityTaskStartedEventAttributes)
          .map((e) => e.activityTaskStartedEventAttributes!.attempt);
      expect(await attempts(workflowIdFor(lease.uuid))).toEqual([1, 1]); // lookupLease, publishFailure
      expect(await attempts(`${workflowIdFor(lease.uuid)}-collect-v1`)).toEqual([1]); // the first page, once
    } finally {
      stack.ce.resetFaults();
    }
  });
});
