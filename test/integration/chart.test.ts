// writeChart and the chart link against moto: the summary beside the CSV in, the HTML report out,
// and publishReport's reportUrl serving it. The browser's view of the page is lease-chart-browser.test.ts.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createEventBridgeActivities } from '../../activities/eventbridge';
import { REPORT_PUBLISHED_DETAIL_TYPE } from '../../src/domain/events';
import { createReportActivities, type ChartObject } from '../../activities/reports';
import { createPresigner } from '../../activities/s3-objects';
import { reportKey } from '../../src/domain/collection';
import { ErrorType } from '../../src/domain/errors';
import { REPORT_CSP } from '../../src/domain/lease-chart';
import { clientConfig, createBucket, createEventCapture, type EventCapture } from '../../support/aws';
import { putSummary, resourceDays, summaryOf } from '../../support/lease-summary';

const endpoint = inject('motoEndpoint');
const s3 = new S3Client(clientConfig(endpoint));
const bucket = `lease-costs-chart-${randomBytes(4).toString('hex')}`;
const deps = { s3, bucket, keyPrefix: 'reports/', urlExpiryDays: 7 };
const { writeChart } = createReportActivities(deps);
const window = { start: '2026-10-01', end: '2026-10-08' };
let events: EventCapture;

beforeAll(async () => {
  await createBucket(endpoint, bucket);
  events = await createEventCapture(endpoint, {
    busName: `isb-chart-${randomBytes(4).toString('hex')}`,
    detailType: REPORT_PUBLISHED_DETAIL_TYPE,
  });
});
afterAll(() => {
  events?.close();
  s3.destroy();
});

const mock = new MockActivityEnvironment({ activityType: 'test' });
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as ApplicationFailure,
  );

describe('writeChart', () => {
  it('writes the HTML report beside the CSV, as UTF-8 HTML with its SHA-256, from the summary beside it', async () => {
    const uuid = randomUUID();
    const summary = summaryOf(
      uuid,
      2,
      resourceDays({
        start: window.start,
        days: 7,
        services: 14,
        serviceName: (i) => (i === 0 ? 'Amazon <b>Évolution</b> 😀' : `Service ${i}`),
      }),
    );
    await putSummary(s3, bucket, deps.keyPrefix, summary);
    const chart: ChartObject = await mock.run(writeChart, {
      leaseUuid: uuid,
      version: 2,
      accountId: '123456789012',
      billingWindow: window,
    });
    expect(chart.key).toBe(reportKey('reports/', uuid, 2, 'chart'));
    expect(chart.key).toBe(`reports/${uuid}/lease-costs-${uuid}-v2.html`);

    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: chart.key, ChecksumMode: 'ENABLED' }));
    const body = Buffer.from(await object.Body!.transformToByteArray());
    expect(object.ContentType).toBe('text/html; charset=utf-8');
    expect(object.ChecksumSHA256).toBe(createHash('sha256').update(body).digest('base64'));
    expect(body.length).toBe(chart.bytes);
    const html = body.toString('utf8');
    expect(html).toContain(REPORT_CSP.replace(/'/g, '&#39;'));
    expect(html).toContain(`<dd class="total" id="total">${summary.total} USD</dd>`);
    expect(html).toContain('Amazon &#60;b&#62;Évolution&#60;/b&#62; 😀');
    expect(html).toContain(`Other (${14 - 9} services)`);
    expect(html).not.toMatch(/<script|<b>/i);
  });

  it("fails at once, naming the key, when the summary is missing, malformed or another version's", async () => {
    const uuid = randomUUID();
    const input = { leaseUuid: uuid, version: 1, accountId: '123456789012', billingWindow: window };
    const summaryKey = reportKey('reports/', uuid, 1, 'summary');
    const summaryAt = `s3://${bucket}/${summaryKey}`;

    const missing = await failureOf(mock.run(writeChart, input));
    expect(missing).toBeInstanceOf(ApplicationFailure);
    expect(missing).toMatchObject({ type: ErrorType.InvalidReportSummary, nonRetryable: true });
    expect(missing.message).toBe(`Report summary ${summaryAt} does not exist (writeReport writes it beside the CSV)`);

    // v2's summary under v1's key: it says whose it is, and is refused.
    await s3Put(summaryKey, JSON.stringify(summaryOf(uuid, 2, [])));
    expect(await failureOf(mock.run(writeChart, input))).toMatchObject({
      type: ErrorType.InvalidReportSummary,
      nonRetryable: true,
      message: `Report summary ${summaryAt} belongs to ${uuid} v2, not ${uuid} v1`,
    });

    await s3Put(summaryKey, JSON.stringify({ ...summaryOf(uuid, 1, []), total: '1e3' }));
    expect((await failureOf(mock.run(writeChart, input))).message).toMatch(
      new RegExp(`^Report summary ${summaryAt} is malformed: total: must be a plain decimal string`),
    );
    await s3Put(summaryKey, '{not json');
    expect((await failureOf(mock.run(writeChart, input))).message).toBe(`Report summary ${summaryAt} is not JSON`);
    // Nothing was written for a report whose summary could not be read.
    expect(
      await failureOf(s3.send(new HeadObjectCommand({ Bucket: bucket, Key: reportKey('reports/', uuid, 1, 'chart') }))),
    ).toMatchObject({ name: 'NotFound' });
  });
});

const s3Put = (key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

describe('publishReport', () => {
  it('puts reportUrl, a presigned link like csvUrl, that serves the HTML report, in LeaseCostsReportPublished', async () => {
    const uuid = randomUUID();
    await putSummary(
      s3,
      bucket,
      deps.keyPrefix,
      summaryOf(uuid, 1, resourceDays({ start: window.start, days: 7, services: 3 })),
    );
    const chart: ChartObject = await mock.run(writeChart, {
      leaseUuid: uuid,
      version: 1,
      accountId: '123456789012',
      billingWindow: window,
    });
    const eventBridge = new EventBridgeClient(clientConfig(endpoint));
    const { publishReport } = createEventBridgeActivities({
      eventBridge,
      busName: events.busName,
      presign: createPresigner(deps),
    });
    const report = {
      bucket,
      key: reportKey('reports/', uuid, 1),
      summaryKey: reportKey('reports/', uuid, 1, 'summary'),
      checksumSha256: 'x',
      rowCount: 1,
      total: '1.5',
      bytes: 1,
    };
    await mock.run(publishReport, {
      leaseUuid: uuid,
      userEmail: 'ada@example.gov.uk',
      accountId: '123456789012',
      version: 1,
      billingWindow: window,
      report,
      chartKey: chart.key,
      resourceLevel: 'used' as const,
    });
    eventBridge.destroy();
    const [event] = (await events.receiveAll<Record<string, unknown>>(1500)).filter((e) => e.detail.leaseId === uuid);
    const detail = event!.detail;
    expect(detail).toMatchObject({ s3Key: report.key, totalCostExact: '1.5', reportVersion: 1 });
    const reportUrl = new URL(detail.reportUrl as string);
    expect(reportUrl.pathname).toBe(`/${bucket}/${chart.key}`);
    expect(reportUrl.searchParams.get('X-Amz-Expires')).toBe(String(7 * 24 * 3600));
    const page = await fetch(reportUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await page.text()).toContain('<h2>Daily cost by service</h2>');
  });
});
