import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { partKeysOf, reportKey, type CollectionResult } from '../src/domain/collection';
import { CostReportBuilder, type CostReport } from '../src/domain/csv';
import { ErrorType } from '../src/domain/errors';
import { LeaseSummary } from '../src/domain/lease-summary';
import { CostRow, type DateRange } from '../src/domain/schemas';
import { STAGING_OBJECT_TAG } from '../src/domain/storage';
import { activityTelemetry } from '../src/infrastructure/telemetry';
import { renderLeaseReport } from '../src/rendering/lease-report';
import type { StagingStore } from './cost-explorer';
import { z } from 'zod';

export interface S3Deps {
  s3: S3Client;
  bucket: string;
  keyPrefix: string;
  urlExpiryDays: number;
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
}

// Staged pages fetched ahead of the one being aggregated: S3 round trips overlap the CPU work.
const PAGES_IN_FLIGHT = 4;
// Longest stretch of synchronous work between yields to the event loop while the CSV is written,
// so heartbeats and the worker's other tasks keep flowing during a large build.
const MAX_BUSY_MS = 50;

/** Every staged page, in order, with a few fetched ahead; `onPage` sees each page once. */
async function forEachPart(staging: StagingStore, keys: string[], onPage: (rows: CostRow[]) => void): Promise<void> {
  const inFlight: Promise<CostRow[]>[] = [];
  let next = 0;
  for (let i = 0; i < keys.length; i++) {
    while (next < keys.length && inFlight.length < PAGES_IN_FLIGHT) {
      const page = staging.getPart(keys[next++]!);
      page.catch(() => undefined); // awaited in order below; a failure surfaces there
      inFlight.push(page);
    }
    onPage(await inFlight.shift()!);
  }
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

export function createS3Activities(deps: S3Deps) {
  const staging = createStagingStore(deps.s3, deps.bucket);

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
     * Builds the CSV from the staged pages and uploads it with its SHA-256. The file is never held
     * whole: a first pass over the (deterministic) bytes measures and hashes them, a second streams
     * them as the body of one PutObject (up to 5 GB; a SHA-256 over a whole multipart object does
     * not exist, only per-part composites), whose checksum S3 verifies and HeadObject reads back.
     */
    async writeReport(input: { leaseUuid: string; version: number; collection: CollectionResult }): Promise<ReportSummary> {
      const builder = new CostReportBuilder();
      await forEachPart(staging, partKeysOf(input.collection), (rows) => {
        builder.add(rows);
        heartbeat();
      });
      const report = builder.finish();
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
      // Sending our checksum makes S3 reject a corrupted upload; reading it back proves what is stored.
      await deps.s3.send(new PutObjectCommand({
        Bucket: deps.bucket, Key: key, Body: Readable.from(pacedChunks(report)), ContentLength: bytes,
        ContentType: 'text/csv; charset=utf-8', ChecksumAlgorithm: 'SHA256', ChecksumSHA256: checksumSha256,
        Metadata: { 'lease-uuid': input.leaseUuid, 'report-version': String(input.version), 'total-cost': total },
      }));
      const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      if (head.ChecksumSHA256 !== checksumSha256 || head.ContentLength !== bytes) {
        throw ApplicationFailure.retryable(
          `S3 object ${key} has SHA-256 ${head.ChecksumSHA256 ?? '(none)'} and ${head.ContentLength ?? '?'} bytes, expected ${checksumSha256} and ${bytes}`,
          ErrorType.ChecksumMismatch);
      }
      activityTelemetry().reportWritten(input.leaseUuid, { key, rowCount, total, version: input.version });
      return { bucket: deps.bucket, key, checksumSha256, rowCount, total, bytes };
    },

    /**
     * The HTML report beside the CSV, from the summary beside it: a chart and tables, no script.
     * Deterministic per (lease, version) like the CSV, so a retry overwrites the same object.
     */
    async writeChart(input: ChartInput): Promise<ChartObject> {
      const summary = await readSummary(input.leaseUuid, input.version);
      const body = Buffer.from(await renderLeaseReport(summary, input), 'utf8');
      const key = reportKey(deps.keyPrefix, input.leaseUuid, input.version, 'chart');
      await deps.s3.send(new PutObjectCommand({
        Bucket: deps.bucket, Key: key, Body: body, ContentLength: body.length,
        ContentType: 'text/html; charset=utf-8', ContentDisposition: 'inline',
        ChecksumAlgorithm: 'SHA256', ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
        Metadata: { 'lease-uuid': input.leaseUuid, 'report-version': String(input.version) },
      }));
      return { bucket: deps.bucket, key, bytes: body.length };
    },
  };
}

export function createPresigner(deps: S3Deps) {
  return async (key: string): Promise<{ url: string; expiresAt: string }> => {
    const expiresIn = deps.urlExpiryDays * 24 * 3600;
    const signedAt = (deps.now ?? (() => new Date()))();
    const url = await getSignedUrl(deps.s3, new GetObjectCommand({ Bucket: deps.bucket, Key: key }), { expiresIn, signingDate: signedAt });
    return { url, expiresAt: new Date(signedAt.getTime() + expiresIn * 1000).toISOString() };
  };
}
