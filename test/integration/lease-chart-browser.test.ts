// The HTML report as a person sees it: written by writeChart to S3 (moto), opened through its
// presigned URL in Debian's Chromium with JavaScript off, and photographed under .data/screenshots/.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createReportActivities, type ChartObject } from '../../activities/reports';
import { createPresigner } from '../../activities/s3-objects';
import { addDays } from '../../src/domain/billing-window';
import { CHART_TOP_SERVICES } from '../../src/domain/lease-chart';
import type { LeaseSummary } from '../../src/domain/lease-summary';
import { repoRoot } from '../../support/tools';
import { clientConfig, createBucket } from '../../support/aws';
import { putSummary, resourceDays, summaryOf } from '../../support/lease-summary';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  // A skipped browser test must never look like a passing one.
  console.warn(
    `\n${'*'.repeat(90)}\n*** LEASE CHART BROWSER TEST SKIPPED: ${CHROMIUM} not found (run scripts/setup-debian.sh as root) ***\n${'*'.repeat(90)}\n`,
  );
}
const outDir = join(repoRoot, '.data', 'screenshots');
const HOSTILE_SERVICE = '<script>document.title="pwned"</script>';
const HOSTILE_RESOURCE = '"><img src=x onerror=alert(1)>';

const endpoint = inject('motoEndpoint');
const s3 = new S3Client(clientConfig(endpoint));
const deps = {
  s3,
  bucket: `lease-costs-browser-${randomBytes(4).toString('hex')}`,
  keyPrefix: 'reports/',
  urlExpiryDays: 1,
};
let browser: Browser | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  await createBucket(endpoint, deps.bucket);
  await mkdir(outDir, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close().catch(() => {});
  s3.destroy();
});

/** The summary in S3, writeChart's page from it, and that page open in the browser by its presigned URL. */
async function openReport(
  summary: LeaseSummary,
  days: number,
): Promise<{ page: Page; requests: string[]; url: string }> {
  await putSummary(s3, deps.bucket, deps.keyPrefix, summary);
  const billingWindow = { start: summary.daily[0]!.date, end: addDays(summary.daily[0]!.date, days) };
  const chart: ChartObject = await new MockActivityEnvironment().run(createReportActivities(deps).writeChart, {
    leaseUuid: summary.leaseUuid,
    version: summary.version,
    accountId: '123456789012',
    billingWindow,
  });
  const { url } = await createPresigner(deps)(chart.key);
  const context = await browser!.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  const res = await page.goto(url);
  expect(res?.status()).toBe(200);
  return { page, requests, url };
}

async function sizeOf(page: Page, selector: string): Promise<{ count: number; nonZero: number }> {
  const boxes = await Promise.all((await page.locator(selector).all()).map((l) => l.boundingBox()));
  return { count: boxes.length, nonZero: boxes.filter((b) => b && b.width > 0 && b.height > 0).length };
}

describe('the lease report in a real browser, JavaScript off', () => {
  it.skipIf(!hasChromium)(
    'draws the stacked bars, legend and top resources, shows hostile names as text, loads nothing else',
    async () => {
      const uuid = randomUUID();
      const rows = resourceDays({
        start: '2026-10-01',
        days: 20,
        services: 12,
        serviceName: (i) =>
          i === 1
            ? HOSTILE_SERVICE
            : (['Amazon Elastic Compute Cloud - Compute', 'Amazon Simple Storage Service', 'AWS Lambda'][i] ??
              `Amazon Service ${i}`),
        resourceName: (s, r) =>
          s === 0 && r === 0 ? HOSTILE_RESOURCE : `arn:aws:svc${s}:eu-west-2:123456789012:thing/r-${s}-${r}`,
      });
      const summary = summaryOf(uuid, 1, rows);
      const { page, requests, url } = await openReport(summary, 20);

      // Nothing from the data became markup; the page fetched only itself.
      expect(await page.title()).toBe(`Lease costs ${uuid} v1`);
      expect(await page.locator('script, img, iframe, object, embed, foreignObject, [onerror], [onload]').count()).toBe(
        0,
      );
      expect(requests).toHaveLength(1);
      expect(await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content')).toMatch(
        /^default-src 'none';/,
      );

      const bars = await sizeOf(page, 'figure svg path[aria-roledescription="bar"]');
      expect(bars.count).toBe(
        new Set(
          summary.daily.map(
            (d) =>
              `${d.date} ${summary.byService.findIndex((s) => s.service === d.service) < CHART_TOP_SERVICES ? d.service : 'other'}`,
          ),
        ).size,
      );
      expect(bars.nonZero).toBe(bars.count);
      const legend = await page.locator('figure svg .role-legend-label text').allTextContents();
      expect(legend).toContain(`Other (${12 - CHART_TOP_SERVICES} services)`);
      expect(legend.some((t) => t.startsWith('<script>'))).toBe(true);

      const topRows = page.locator('h2:has-text("Top 10 resources") + table tbody tr');
      expect(await sizeOf(page, 'h2:has-text("Top 10 resources") + table tbody tr')).toEqual({
        count: summary.topResources.length,
        nonZero: summary.topResources.length,
      });
      const cells = await topRows.evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
      );
      expect(cells.map((c) => [c[0], c[1], c[3]])).toEqual(
        summary.topResources.map((r) => [r.resourceName, r.service, r.cost]),
      );
      expect(cells.flat()).toContain(HOSTILE_RESOURCE);
      expect(await page.locator('#total').textContent()).toBe(`${summary.total} USD`);
      // With AWS's long service names the whole chart still fits a 1280 px window: no scrolling inside the figure.
      expect(await page.locator('figure').evaluate((f) => f.scrollWidth <= f.clientWidth)).toBe(true);

      await page.screenshot({ path: join(outDir, 'lease-chart.png'), fullPage: true });
      await page.context().close();

      // A reader whose browser runs scripts is just as safe: the payloads would alert or retitle the page.
      const scripted = await (await browser!.newContext({ javaScriptEnabled: true })).newPage();
      const dialogs: string[] = [];
      scripted.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await scripted.goto(url, { waitUntil: 'load' });
      expect(await scripted.title()).toBe(`Lease costs ${uuid} v1`);
      expect(dialogs).toEqual([]);
      await scripted.context().close();
    },
    30_000,
  );

  it.skipIf(!hasChromium)(
    'stays readable at 90 days of 40 services: every day a bar, ten legend entries',
    async () => {
      const summary = summaryOf(randomUUID(), 3, resourceDays({ start: '2026-07-01', days: 90, services: 40 }));
      const { page } = await openReport(summary, 90);
      const days = new Set(
        await page
          .locator('figure svg path[aria-roledescription="bar"]')
          .evaluateAll((ps) => ps.map((p) => p.getAttribute('aria-label')!.slice(0, 10))),
      );
      expect(days.size).toBe(90);
      const legendEntries = await page.locator('figure svg .role-legend-label text').allTextContents();
      expect(legendEntries).toEqual([
        ...summary.byService.slice(0, CHART_TOP_SERVICES).map((s) => s.service),
        `Other (${40 - CHART_TOP_SERVICES} services)`,
      ]);
      await page.screenshot({ path: join(outDir, 'lease-chart-90-days.png'), fullPage: true });
      await page.context().close();
    },
    30_000,
  );
});
