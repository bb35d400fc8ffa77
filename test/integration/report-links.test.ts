import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../helpers/logs';
import { freePort } from '../../support/ports';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { signReportLink } from '../../src/infrastructure/report-link-signing';
import { reportLinkDepsFor } from '../../src/interfaces/report-link-routes';
import { buildWebhookServer } from '../../src/interfaces/webhook-server';
import type { LeaseCostsResult } from '../../workflows';
import { httpRequest } from '../helpers/http';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';

// The event's csvUrl is our signed link: the webhook process checks it and redirects to a fresh,
// short presigned S3 URL, so the link outlives the worker's role session.

const HOUR = 3600_000;
const ACCOUNT = '210987654321';
const SIGNING_KEY = randomBytes(32).toString('base64');
let stack: Stack;
let app: FastifyInstance;
let base: string;
const presigned: string[] = [];

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  stack = await startStack({ env: { REPORT_LINK_BASE_URL: base, REPORT_LINK_SIGNING_KEY: SIGNING_KEY } });
  await stack.startWorker();
  const deps = reportLinkDepsFor(stack.config)!;
  app = buildWebhookServer({
    config: { ...stack.config, WEBHOOK_API_KEY: 'unused-webhook-key-0123456789', WEBHOOK_AUTH: 'api-key' },
    client: stack.client,
    logger: silentLogger(),
    // The real presigner against moto, counted: a refused link must never reach it.
    reportLinks: { ...deps, presignGet: async (key) => (presigned.push(key), deps.presignGet(key)) },
  });
  await app.listen({ port, host: '127.0.0.1' });
});
afterAll(async () => {
  await app?.close();
  await stack?.stop();
});

const get = (url: string) => httpRequest(url, { method: 'GET' });

/** One lease through the real pipeline; its event's links and the report's S3 keys. */
async function publishedReport(): Promise<{
  csvUrl: string;
  reportUrl: string;
  urlExpiresAt: string;
  key: string;
  chartKey: string;
}> {
  const now = Date.now();
  const lease = {
    uuid: randomUUID(),
    userEmail: 'links@example.gov.uk',
    startDate: new Date(now - 2 * 24 * HOUR).toISOString(),
  };
  stack.isb.addLease({ ...lease, accountId: ACCOUNT, status: 'Expired' });
  const day = new Date(now - 24 * HOUR).toISOString().slice(0, 10);
  stack.ce.addCosts(
    dailyCosts({
      accountId: ACCOUNT,
      start: day,
      end: new Date(now).toISOString().slice(0, 10),
      service: 'AWS Lambda',
      resourceId: 'fn',
      region: 'eu-west-2',
      amount: '0.25',
    }),
  );
  await startLeaseCosts(stack.client, stack.config.TEMPORAL_TASK_QUEUE, {
    leaseUuid: lease.uuid,
    userEmail: lease.userEmail,
    accountId: ACCOUNT,
    terminatedAt: new Date(now - HOUR + 2000).toISOString(),
    paddingHours: 1,
    rerunWindowHours: 0,
  });
  const result = (await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).result()) as LeaseCostsResult;
  const events = (await stack.events.receiveAll<Record<string, string>>(2000)).filter(
    (e) => e.detail.leaseId === lease.uuid,
  );
  expect(events).toHaveLength(1);
  const { csvUrl, urlExpiresAt } = events[0]!.detail;
  const published = (await stack.published.receiveAll<Record<string, string>>(2000)).filter(
    (e) => e.detail.leaseId === lease.uuid,
  );
  expect(published).toHaveLength(1);
  const { reportUrl } = published[0]!.detail;
  expect(published[0]!.detail.urlExpiresAt).toBe(urlExpiresAt);
  return {
    csvUrl: csvUrl!,
    reportUrl: reportUrl!,
    urlExpiresAt: urlExpiresAt!,
    key: result.key,
    chartKey: result.reports[0]!.chartKey!,
  };
}

let report: Awaited<ReturnType<typeof publishedReport>>;

describe('signed report links', () => {
  it('the event carries our link for PRESIGNED_URL_EXPIRY_DAYS; it redirects to S3 and yields the CSV bytes', async () => {
    const before = Date.now();
    report = await publishedReport();
    expect(report.csvUrl.startsWith(`${base}/reports/`)).toBe(true);
    expect(report.csvUrl).not.toContain('X-Amz-');
    const days = (Date.parse(report.urlExpiresAt) - before) / (24 * HOUR);
    expect(days).toBeGreaterThan(6.99);
    expect(days).toBeLessThanOrEqual(7.01);

    const res = await get(report.csvUrl);
    expect(res.status).toBe(302);
    expect(res.headers['cache-control']).toBe('no-store');
    const location = String(res.headers.location);
    // A fresh presigned URL for the same object, living minutes, not days.
    expect(new URL(location).searchParams.get('X-Amz-Expires')).toBe('300');
    const download = await fetch(location);
    expect(download.status).toBe(200);
    const bytes = Buffer.from(await download.arrayBuffer());
    expect(bytes.equals((await stack.getObject(report.key)).body)).toBe(true);
    expect(bytes.toString('utf8')).toMatch(/^Resource Name,Service,Region,Cost\r\n/);
    expect(presigned).toEqual([report.key]);

    // The HTML report's link is made the same way, and lives at least as long.
    expect(report.reportUrl.startsWith(`${base}/reports/`)).toBe(true);
    expect(report.reportUrl).not.toContain('X-Amz-');
    const expiresOf = (link: string) => Number(new URL(link).searchParams.get('expires'));
    expect(expiresOf(report.reportUrl)).toBeGreaterThanOrEqual(expiresOf(report.csvUrl));
    const chart = await get(report.reportUrl);
    expect(chart.status).toBe(302);
    const page = await fetch(String(chart.headers.location));
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<h1>Lease costs</h1>');
    expect(presigned).toEqual([report.key, report.chartKey]);
  });

  it('refuses tampered, foreign and expired links with 403 before anything is presigned', async () => {
    expect(report, 'the first test publishes the report').toBeDefined();
    const url = new URL(report.csvUrl);
    const signature = url.searchParams.get('signature')!;
    const expires = url.searchParams.get('expires')!;
    const variant = (edit: (u: URL) => void) => {
      const u = new URL(report.csvUrl);
      edit(u);
      return u.toString();
    };
    const flipped = `${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`;
    const refused = {
      'tampered signature': variant((u) => u.searchParams.set('signature', flipped)),
      'truncated signature': variant((u) => u.searchParams.set('signature', signature.slice(0, 20))),
      'no signature': variant((u) => u.searchParams.delete('signature')),
      'later expiry': variant((u) => u.searchParams.set('expires', String(Number(expires) + 86_400))),
      'another key': variant((u) => {
        u.pathname = u.pathname.replace(/-v1\.csv$/, '-v2.csv');
      }),
      'outside the prefix': signReportLink({
        baseUrl: base,
        signingKey: SIGNING_KEY,
        key: 'elsewhere/x.csv',
        expiresAt: new Date(Date.now() + HOUR),
      }),
      'other signing key': signReportLink({
        baseUrl: base,
        signingKey: 'x'.repeat(32),
        key: report.key,
        expiresAt: new Date(Date.now() + HOUR),
      }),
    };
    for (const [name, link] of Object.entries(refused)) {
      const res = await get(link);
      expect(res.status, name).toBe(403);
      expect(res.json, name).toEqual({ error: 'invalid report link' });
    }
    const expired = await get(
      signReportLink({
        baseUrl: base,
        signingKey: SIGNING_KEY,
        key: report.key,
        expiresAt: new Date(Date.now() - 1000),
      }),
    );
    expect(expired.status).toBe(403);
    expect(expired.json).toEqual({ error: 'this report link has expired' });
    expect(presigned).toEqual([report.key, report.chartKey]);
  });
});
