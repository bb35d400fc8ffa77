// writeReport end to end in a fresh process: staged pages in S3 (moto) -> CSV in S3, checksum
// verified by the activity. Runs in a MockActivityEnvironment, which records every heartbeat.
// Prints one JSON line on stdout.
// Usage: node <the worker's node flags, bench/node-flags.ts> --import tsx bench/write-report-child.ts <collection.json>
//   env: BENCH_S3_ENDPOINT, BENCH_BUCKET, BENCH_LEASE_UUID
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { S3Client } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createReportActivities } from '../activities/reports';
import type { CollectionResult } from '../src/domain/collection';
import type { WrittenReport } from '../src/domain/schemas';
import { clientConfig } from '../support/aws';

const [collectionFile] = process.argv.slice(2);
const endpoint = process.env.BENCH_S3_ENDPOINT;
const bucket = process.env.BENCH_BUCKET;
const leaseUuid = process.env.BENCH_LEASE_UUID;
if (!collectionFile || !endpoint || !bucket || !leaseUuid)
  throw new Error(
    'usage: BENCH_S3_ENDPOINT=… BENCH_BUCKET=… BENCH_LEASE_UUID=… write-report-child.ts <collection.json>',
  );
const collection = JSON.parse(readFileSync(collectionFile, 'utf8')) as CollectionResult;

const s3 = new S3Client(clientConfig(endpoint));
const { writeReport } = createReportActivities({ s3, bucket, keyPrefix: 'reports/' });
const env = new MockActivityEnvironment({ activityType: 'writeReport', heartbeatTimeoutMs: 30_000 });
const heartbeats: number[] = [];
env.on('heartbeat', () => heartbeats.push(performance.now()));
const loop = monitorEventLoopDelay({ resolution: 10 });

const idleKiB = process.resourceUsage().maxRSS;
loop.enable();
const t0 = performance.now();
const summary: WrittenReport = await env.run(writeReport, {
  leaseUuid,
  version: 1,
  collection,
  accountId: '123456789012',
  billingWindow: collection.segments[0]!.range,
});
const wallMs = performance.now() - t0;
loop.disable();
s3.destroy();

const gaps = heartbeats.map((t, i) => t - (i === 0 ? t0 : heartbeats[i - 1]!));
gaps.push(t0 + wallMs - (heartbeats.at(-1) ?? t0));
process.stdout.write(
  `${JSON.stringify({
    ...summary,
    wallMs,
    idleKiB,
    peakKiB: process.resourceUsage().maxRSS,
    heartbeats: heartbeats.length,
    maxHeartbeatGapMs: Math.max(...gaps),
    maxEventLoopDelayMs: loop.max / 1e6,
  })}\n`,
);
