import { createHash } from 'node:crypto';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { buildCostCsv } from '../src/domain/csv';
import { partKeysOf, reportKey, type CollectionResult } from '../src/domain/collection';
import { ErrorType } from '../src/domain/errors';
import { CostRow } from '../src/domain/schemas';
import { STAGING_OBJECT_TAG } from '../src/domain/storage';
import { activityTelemetry } from '../src/infrastructure/telemetry';
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

export function createS3Activities(deps: S3Deps) {
  const staging = createStagingStore(deps.s3, deps.bucket);
  return {
    async writeReport(input: { leaseUuid: string; version: number; collection: CollectionResult }): Promise<ReportSummary> {
      const rows: CostRow[] = [];
      for (const key of partKeysOf(input.collection)) {
        rows.push(...(await staging.getPart(key)));
        heartbeat();
      }
      const { csv, rowCount, total } = buildCostCsv(rows);
      const body = Buffer.from(csv, 'utf8');
      const checksumSha256 = createHash('sha256').update(body).digest('base64');
      const key = reportKey(deps.keyPrefix, input.leaseUuid, input.version);
      // Sending our checksum makes S3 reject a corrupted upload; reading it back proves what is stored.
      await deps.s3.send(new PutObjectCommand({
        Bucket: deps.bucket, Key: key, Body: body, ContentType: 'text/csv; charset=utf-8',
        ChecksumAlgorithm: 'SHA256', ChecksumSHA256: checksumSha256,
        Metadata: { 'lease-uuid': input.leaseUuid, 'report-version': String(input.version), 'total-cost': total },
      }));
      const head = await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key, ChecksumMode: 'ENABLED' }));
      if (head.ChecksumSHA256 !== checksumSha256) {
        throw ApplicationFailure.retryable(
          `S3 object ${key} has SHA-256 ${head.ChecksumSHA256 ?? '(none)'}, expected ${checksumSha256}`, ErrorType.ChecksumMismatch);
      }
      activityTelemetry().reportWritten(input.leaseUuid, { key, rowCount, total, version: input.version });
      return { bucket: deps.bucket, key, checksumSha256, rowCount, total, bytes: body.length };
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
