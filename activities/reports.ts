import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { reportKey, reportRowsOf, stagedPartsOf, type CollectionResult } from '../src/domain/collection';
import { CostReportBuilder, type CostReport } from '../src/domain/csv';
import { ErrorType } from '../src/domain/errors';
import { FOCUS_HEADER, focusLines } from '../src/domain/focus';
import { LeaseSummary, LeaseSummaryBuilder } from '../src/domain/lease-summary';
import { CostRow, type DateRange, type LeaseAttribution } from '../src/domain/schemas';
import { STAGING_OBJECT_TAG } from '../src/domain/storage';
import { activityTelemetry } from '../src/infrastructure/telemetry';
import { renderLeaseReport } from '../src/domain/lease-report';
import type { StagingStore } from './cost-explorer';
import { z } from 'zod';

export interface S3Deps {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  urlExpiryDays: number;
  /** Also write the report in FOCUS columns (REPORT_FOCUS). */
  focus?: boolean;
  now?: () => Date;
}

const STAGING_TAGGING = new URLSearchParams([[STAGING_OBJECT_TAG.key, STAGING_OBJECT_TAG.value]]).toString();

/** Cost rows travel between activities through S3 so history holds only references. */
export function createStagingStore(s3: S3Client, bucket: string): StagingStore {
  return {
    async putPart(key: string, rows: CostRow[]): Promise<void> {
      await s3.send(new PutObjectCommand({
        Bucket: bucket, Key: key, Body: JSON.stringify(rows), ContentType: 'application/json', Tagging: STAGING_TAGGING,
      }));
    },
    async getPart(key: string): Promise<CostRow[]> {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return z.array(CostRow).parse(JSON.parse(await res.Body!.transformToString()));
    },
  };
}

export interface ReportSummary {
  bucket: string;
  key: string;
  /** base64, as S3 reports it */
  checksumSha256: string;
  rowCount: number;
  total: string;
  bytes: number;
  /** The report's LeaseSummary (JSON), beside the CSV. */
  summaryKey: string;
  /** The report in FOCUS columns, when REPORT_FOCUS is on. */
  focusKey?: string;
}

// Staged pages fetched ahead of the one being aggregated: S3 round trips overlap the CPU work.
const PAGES_IN_FLIGHT = 4;
// Longest stretch of synchronous work between yields to the event loop while the CSV is written,
// so heartbeats and the worker's other tasks keep flowing during a large build.
const MAX_BUSY_MS = 50;

/** Every staged page, in order, with a few fetched ahead; `onPage` sees each page once. */
async function forEachPart<P extends { key: string }>(staging: StagingStore, parts: P[], onPage: (rows: CostRow[], part: P) => void | Promise<void>): Promise<void> {
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
    path, write,
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

export interface PutVerifiedOptions {
  known?: { bytes: number; checksumSha256: string };
  metadata?: Record<string, string>;
}

/**
 * One object with our SHA-256, which S3 checks on arrival; HeadObject proves what is stored. A
 * streamed body comes with its size and checksum, measured in an earlier pass over its bytes.
 * Returns the checksum (base64).
 */
export async function putVerifiedObject(
  deps: Pick<S3Deps, 's3' | 'bucket'>, key: string, body: Buffer | (() => Readable), contentType: string, opts: PutVerifiedOptions = {},
): Promise<string> {
  const { bytes, checksumSha256 } = opts.known
    ?? { bytes: (body as Buffer).length, checksumSha256: createHash('sha256').update(body as Buffer).digest('base64') };
  await deps.s3.send(new PutObjectCommand({
    Bucket: deps.bucket, Key: key, Body: typeof body === 'function' ? body() : body, ContentLength: bytes,
    ContentType: contentType, ChecksumAlgorithm: 'SHA256', ChecksumSHA256: checksumSha256, Metadata: opts.metadata,
  }));
  const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, ChecksumMode: 'ENABLED' }));
  if (head.ChecksumSHA256 !== checksumSha256 || head.ContentLength !== bytes) {
    throw ApplicationFailure.retryable(
      `S3 object ${key} has SHA-256 ${head.ChecksumSHA256 ?? '(none)'} and ${head.ContentLength ?? '?'} bytes, expected ${checksumSha256} and ${bytes}`,
      ErrorType.ChecksumMismatch);
  }
  return checksumSha256;
}

export function createS3Activities(deps: S3Deps) {
  const staging = createStagingStore(deps.s3, deps.bucket);
  const putVerified = (key: string, body: Buffer | (() => Readable), contentType: string, opts?: PutVerifiedOptions) =>
    putVerifiedObject(deps, key, body, contentType, opts);

  /** The summary writeReport left beside the CSV: one that is missing or not this report's is a bug, not a blip. */
  const readSummary = async (leaseUuid: string, version: number): Promise<LeaseSummary> => {
    const key = reportKey(deps.keyPrefix, leaseUuid, version, 'summary');
    const invalid = (why: string) => ApplicationFailure.nonRetryable(`Report summary ${key} ${why}`, ErrorType.InvalidReportSummary);
    let text: string;
    try {
      text = await (await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }))).Body!.transformToString();
    } catch (err) {
      if (err instanceof NoSuchKey) throw invalid('does not exist (writeReport writes it beside the CSV)');
      throw err;
    }
    let parsed: ReturnType<typeof LeaseSummary.safeParse>;
    try {
      parsed = LeaseSummary.safeParse(JSON.parse(text));
    } catch {
      throw invalid('is not JSON');
    }
    if (!parsed.success) throw invalid(`is malformed: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    if (parsed.data.leaseUuid !== leaseUuid || parsed.data.version !== version) {
      throw invalid(`belongs to ${parsed.data.leaseUuid} v${parsed.data.version}`);
    }
    return parsed.data;
  };

  return {
    /**
     * Builds the CSV from the staged pages and uploads it (uploadCsv), then the report's summary
     * and, with REPORT_FOCUS, its FOCUS file, each verified by SHA-256 like the CSV.
     */
    async writeReport(input: {
      leaseUuid: string; version: number; collection: CollectionResult; accountId: string; billingWindow: DateRange;
      attribution?: LeaseAttribution;
    }): Promise<ReportSummary> {
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
        const leaseSummary = summary.finish({ leaseUuid: input.leaseUuid, version: input.version, billingWindow: input.billingWindow, attribution: input.attribution }, report);
        await putVerified(summaryKey, Buffer.from(JSON.stringify(leaseSummary), 'utf8'), 'application/json');
        let focusKey: string | undefined;
        if (focus) {
          focusKey = reportKey(deps.keyPrefix, input.leaseUuid, input.version, 'focus');
          const { bytes, checksumSha256 } = await focus.close();
          await putVerified(focusKey, () => createReadStream(focus.path), 'text/csv; charset=utf-8', { known: { bytes, checksumSha256 } });
        }
        return { ...result, summaryKey, ...(focusKey ? { focusKey } : {}) };
      } finally {
        await focus?.remove();
      }
    },

    /**
     * The HTML report beside the CSV, from the summary beside it: a chart and tables, no script.
     * Deterministic per (lease, version) like the CSV, so a retry overwrites the same object.
     */
    async writeChart(input: ChartInput): Promise<ChartObject> {
      const summary = await readSummary(input.leaseUuid, input.version);
      const body = Buffer.from(await renderLeaseReport(summary, input), 'utf8');
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
  async function uploadCsv(input: { leaseUuid: string; version: number }, report: CostReport): Promise<Omit<ReportSummary, 'summaryKey'>> {
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

export function createPresigner(deps: S3Deps) {
  return async (key: string): Promise<{ url: string; expiresAt: string }> => {
    const expiresIn = deps.urlExpiryDays * 24 * 3600;
    const signedAt = (deps.now ?? (() => new Date()))();
    const url = await getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: deps.bucket, Key: key }), { expiresIn, signingDate: signedAt });
    return { url, expiresAt: new Date(signedAt.getTime() + expiresIn * 1000).toISOString() };
  };
}
