import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { reportKey, reportRowsOf, stagedPartsOf, type CollectionResult } from '../src/domain/collection';
import { CostReportBuilder, type CostReport } from '../src/domain/csv';
import { DEFAULT_COST_SCOPE } from '../src/domain/cost-scope';
import { ErrorType } from '../src/domain/errors';
import { FOCUS_HEADER, focusLines } from '../src/domain/focus';
import { LeaseSummaryBuilder } from '../src/domain/lease-summary';
import type { CostRow, DateRange, LeaseAttribution, WrittenReport } from '../src/domain/schemas';
import { renderLeaseReport } from '../src/domain/lease-report';
import { createSummaryReader } from '../src/infrastructure/summary-reader';
import { activityTelemetry } from '../src/infrastructure/telemetry';
import { putVerifiedObject, type PutVerifiedOptions, type ReportBucket } from './s3-objects';
import { createStagingStore, type StagingStore } from './staging-store';

// Report writing: the CSV, its summary and FOCUS file from the staged pages, and the HTML report
// from the summary, each a verified S3 object whose key derives from (lease, version).

export interface ReportDeps extends ReportBucket {
  /** Also write the report in FOCUS columns (REPORT_FOCUS). */
  focus?: boolean;
}

// Staged pages fetched ahead of the one being aggregated: S3 round trips overlap the CPU work.
const PAGES_IN_FLIGHT = 4;
// Longest stretch of synchronous work between yields to the event loop while the CSV is written,
// so heartbeats and the worker's other tasks keep flowing during a large build.
const MAX_BUSY_MS = 50;

/** Every staged page, in order, with a few fetched ahead; `onPage` sees each page once. */
async function forEachPart<P extends { key: string }>(
  staging: StagingStore,
  parts: P[],
  onPage: (rows: CostRow[], part: P) => void | Promise<void>,
): Promise<void> {
  const inFlight: Promise<CostRow[]>[] = [];
  let next = 0;
  for (let i = 0; i < parts.length; i++) {
    while (next < parts.length && inFlight.length < PAGES_IN_FLIGHT) {
      const page = staging.getPart(parts[next++]!.key);
      page.catch(() => undefined); // awaited in order below; a failure surfaces there
      inFlight.push(page);
    }
    await onPage(await inFlight.shift()!, parts[i]!);
  }
}

/**
 * The FOCUS file, written page by page to a temporary file while the CSV is aggregated (it can be
 * as large as the staged rows, so it is never held in memory), hashed as it goes.
 */
async function openFocusFile() {
  const dir = await mkdtemp(join(tmpdir(), 'lease-costs-focus-'));
  const path = join(dir, 'report.focus.csv');
  const file = await open(path, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  const write = async (text: string) => {
    const buf = Buffer.from(text, 'utf8');
    hash.update(buf);
    bytes += buf.length;
    await file.write(buf);
  };
  await write(FOCUS_HEADER);
  return {
    path,
    write,
    async close() {
      await file.close();
      return { bytes, checksumSha256: hash.digest('base64') };
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The report's bytes, yielding to the event loop (and heartbeating) every MAX_BUSY_MS. */
async function* pacedChunks(report: CostReport, opts?: { reuse?: boolean }): AsyncGenerator<Uint8Array> {
  let since = performance.now();
  for (const chunk of report.chunks(opts)) {
    yield chunk;
    if (performance.now() - since > MAX_BUSY_MS) {
      heartbeat();
      await setImmediate();
      since = performance.now();
    }
  }
}

export interface ChartInput {
  leaseUuid: string;
  version: number;
  accountId: string;
  billingWindow: DateRange;
}

export interface ChartObject {
  bucket: string;
  key: string;
  bytes: number;
}

export function createReportActivities(deps: ReportDeps) {
  const staging = createStagingStore(deps.s3, deps.bucket);
  const putVerified = (key: string, body: Buffer | (() => Readable), contentType: string, opts?: PutVerifiedOptions) =>
    putVerifiedObject(deps, key, body, contentType, opts);

  const readSummary = createSummaryReader(deps.s3, deps.bucket, deps.keyPrefix);

  return {
    /**
     * Builds the CSV from the staged pages and uploads it (uploadCsv), then the report's summary
     * and, with REPORT_FOCUS, its FOCUS file, each verified by SHA-256 like the CSV.
     */
    async writeReport(input: {
      leaseUuid: string;
      version: number;
      collection: CollectionResult;
      accountId: string;
      billingWindow: DateRange;
      attribution?: LeaseAttribution;
    }): Promise<WrittenReport> {
      const builder = new CostReportBuilder();
      const summary = new LeaseSummaryBuilder();
      const focus = deps.focus ? await openFocusFile() : undefined;
      try {
        const focusContext = { accountId: input.accountId, billingWindow: input.billingWindow };
        // One pass over the staged pages feeds the CSV, the summary and the FOCUS file.
        await forEachPart(staging, stagedPartsOf(input.collection), async (rows, part) => {
          const reportRows = reportRowsOf(part, rows);
          if (reportRows.length) {
            builder.add(reportRows);
            summary.addReportRows(reportRows);
            if (focus) await focus.write(focusLines(reportRows, focusContext));
          }
          if (part.daily) summary.addDailyRows(rows);
          heartbeat();
        });
        const report = builder.finish();
        const result = await uploadCsv(input, report);
        const summaryKey = reportKey(deps.keyPrefix, input.leaseUuid, input.version, 'summary');
        const costScope = input.collection.costScope ?? DEFAULT_COST_SCOPE;
        const leaseSummary = summary.finish(
          {
            leaseUuid: input.leaseUuid,
            version: input.version,
            costScope,
            billingWindow: input.billingWindow,
            attribution: input.attribution,
          },
          report,
        );
        await putVerified(summaryKey, Buffer.from(JSON.stringify(leaseSummary), 'utf8'), 'application/json');
        let focusKey: string | undefined;
        if (focus) {
          focusKey = reportKey(deps.keyPrefix, input.leaseUuid, input.version, 'focus');
          const { bytes, checksumSha256 } = await focus.close();
          await putVerified(focusKey, () => createReadStream(focus.path), 'text/csv; charset=utf-8', {
            known: { bytes, checksumSha256 },
          });
        }
        return { ...result, summaryKey, ...(focusKey ? { focusKey } : {}), costScope };
      } finally {
        await focus?.remove();
      }
    },

    /**
     * The HTML report beside the CSV, from the summary beside it: a chart and tables, no script.
     * Deterministic per (lease, version) like the CSV, so a retry overwrites the same object.
     */
    async writeChart(input: ChartInput): Promise<ChartObject> {
      // A missing or foreign summary is a bug, not a blip: no retry fixes it.
      const read = await readSummary(input.leaseUuid, input.version);
      if ('problem' in read) throw ApplicationFailure.nonRetryable(read.problem, ErrorType.InvalidReportSummary);
      const body = Buffer.from(await renderLeaseReport(read.summary, input), 'utf8');
      const key = reportKey(deps.keyPrefix, input.leaseUuid, input.version, 'chart');
      await putVerified(key, body, 'text/html; charset=utf-8');
      return { bucket: deps.bucket, key, bytes: body.length };
    },
  };

  /**
   * Uploads the CSV with its SHA-256. The file is never held whole: a first pass over the
   * (deterministic) bytes measures and hashes them, a second streams them as the body of one
   * PutObject (up to 5 GB; a SHA-256 over a whole multipart object does not exist, only per-part
   * composites), whose checksum S3 verifies and HeadObject reads back.
   */
  async function uploadCsv(
    input: { leaseUuid: string; version: number },
    report: CostReport,
  ): Promise<Omit<WrittenReport, 'summaryKey' | 'focusKey'>> {
    const { rowCount, total } = report;
    const hash = createHash('sha256');
    let bytes = 0;
    // Hashing reads each chunk once, so one buffer serves them all.
    for await (const chunk of pacedChunks(report, { reuse: true })) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    const checksumSha256 = hash.digest('base64');
    const key = reportKey(deps.keyPrefix, input.leaseUuid, input.version);
    await putVerified(key, () => Readable.from(pacedChunks(report)), 'text/csv; charset=utf-8', {
      known: { bytes, checksumSha256 },
      metadata: { 'lease-uuid': input.leaseUuid, 'report-version': String(input.version), 'total-cost': total },
    });
    activityTelemetry().reportWritten(input.leaseUuid, { key, rowCount, total, version: input.version });
    return { bucket: deps.bucket, key, checksumSha256, rowCount, total, bytes };
  }
}
