// Section 3: the report build (the Lambda CSV step, the build before and ours, each in a fresh
// process), and writeReport end to end from staged pages in moto to a checksummed CSV in S3.
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createStagingStore } from '../../activities/staging-store';
import { stagedPartsOf, stagingPrefix, type CollectionResult } from '../../src/domain/collection';
import type { CostRow } from '../../src/domain/schemas';
import { clientConfig } from '../../support/aws';
import { costRows } from '../../support/cost-rows';
import { repoRoot, spawnManaged } from '../../support/tools';
import { log, median, mib, pool, printTable, round, type Cell } from '../format';
import type { Infra } from '../infra';
import { workerNodeFlags } from '../node-flags';
import type { Options } from '../options';

export type BuildVariant = 'lambda' | 'before' | 'ours';
const BUILD_VARIANTS: BuildVariant[] = ['lambda', 'before', 'ours'];

export interface BuildRun {
  variant: BuildVariant;
  rows: number;
  rowCount: number;
  total?: string;
  bytes?: number;
  chars?: number;
  sha256?: string;
  /** The part of buildMs spent hashing. */
  sha256Ms?: number;
  buildMs: number;
  cpuMs: number;
  idleKiB: number;
  withInputKiB: number;
  peakKiB: number;
}

interface WriteReportRun {
  rows: number;
  rowCount: number;
  bytes: number;
  checksumSha256: string;
  /** The object read back from S3 and hashed here. */
  downloadedSha256Matches: boolean;
  stagedPages: number;
  stagingSeconds: number;
  wallMs: number;
  idleKiB: number;
  peakKiB: number;
  heartbeats: number;
  maxHeartbeatGapMs: number;
  maxEventLoopDelayMs: number;
}

export interface ReportResult {
  rows: number;
  rounds: number;
  builds: BuildRun[];
  writeReport: WriteReportRun[];
}

export const growthKiB = (r: { idleKiB: number; peakKiB: number }) => r.peakKiB - r.idleKiB;
const STAGED_ROWS_PER_PAGE = 1_000;
const WRITE_REPORT_SEED = 1_000_016;

/** A child process with the worker's node flags (the build and writeReport run in the worker). */
async function runChild(
  infra: Infra,
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<unknown> {
  const flags = [...workerNodeFlags(), ...args.filter((a) => a.startsWith('--'))];
  const child = spawnManaged(
    process.execPath,
    [...flags, '--import', 'tsx', ...args.filter((a) => !a.startsWith('--'))],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
    },
  );
  infra.defer(name, () => child.stop(2_000));
  let stdout = '';
  child.process.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  const code = await child.exited;
  if (code !== 0) throw new Error(`${name} exited with ${code}:\n${child.outputTail()}`);
  const line = stdout.trim().split('\n').at(-1);
  if (!line) throw new Error(`${name} printed nothing:\n${child.outputTail()}`);
  return JSON.parse(line);
}

/** Stages `rows` generated rows as the collect activity would, and returns the collection. */
async function stageRows(s3: S3Client, bucket: string, leaseUuid: string, rows: number): Promise<CollectionResult> {
  const staging = createStagingStore(s3, bucket);
  const segment = {
    kind: 'resource' as const,
    region: 'eu-west-2',
    range: { start: '2026-11-01', end: '2026-12-01' },
    pages: Math.ceil(rows / STAGED_ROWS_PER_PAGE),
  };
  const collection: CollectionResult = {
    stagingPrefix: stagingPrefix('reports/', leaseUuid, 1),
    segments: [segment],
    pages: segment.pages,
    calls: segment.pages,
    resourceLevel: 'used',
  };
  const keys = stagedPartsOf(collection)
    .filter((p) => p.report)
    .map((p) => p.key);
  const generator = costRows(rows, WRITE_REPORT_SEED, { duplicateEvery: 10 });
  const pages = (function* () {
    for (const key of keys) {
      const page: CostRow[] = [];
      for (let i = 0; i < STAGED_ROWS_PER_PAGE; i++) {
        const next = generator.next();
        if (next.done) break;
        page.push(next.value);
      }
      yield { key, page };
    }
  })();
  await pool(Array.from({ length: 8 }), 8, async () => {
    for (const { key, page } of pages) await staging.putPart(key, page);
  });
  return collection;
}

async function sha256OfObject(s3: S3Client, bucket: string, key: string): Promise<string> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of res.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('base64');
}

export async function reportSection(infra: Infra, opts: Options): Promise<ReportResult> {
  const rounds = opts.quick ? 1 : 5;
  const builds: BuildRun[] = [];
  for (let round = 0; round < rounds; round++) {
    // A different variant goes first each round, so a machine getting busier hurts none of them alone.
    const order = BUILD_VARIANTS.map((_, i) => BUILD_VARIANTS[(i + round) % BUILD_VARIANTS.length]!);
    for (const variant of order) {
      log(
        `report: round ${round + 1}/${rounds}, ${variant}, ${opts.rows.toLocaleString('en')} rows in a fresh process…`,
      );
      builds.push(
        (await runChild(infra, `report child ${variant}`, [
          '--expose-gc',
          join(repoRoot, 'bench', 'report-child.ts'),
          variant,
          String(opts.rows),
        ])) as BuildRun,
      );
    }
  }
  const shas = new Set(builds.filter((b) => b.variant !== 'lambda').map((b) => b.sha256));
  if (shas.size !== 1) throw new Error(`before and ours wrote different CSVs: SHA-256 ${[...shas].join(', ')}`);

  const aws = await infra.aws();
  const s3 = new S3Client(clientConfig(aws.motoEndpoint));
  infra.defer('bench S3 client', async () => s3.destroy());
  const writeReport: WriteReportRun[] = [];
  for (const rows of [opts.rows, opts.rows * 10]) {
    const leaseUuid = randomUUID();
    log(`writeReport: staging ${rows.toLocaleString('en')} rows in moto…`);
    const t0 = performance.now();
    const collection = await stageRows(s3, aws.bucket, leaseUuid, rows);
    const stagingSeconds = round((performance.now() - t0) / 1000, 1);
    const file = join(await infra.tmp(), `collection-${leaseUuid}.json`);
    writeFileSync(file, JSON.stringify(collection));
    log(
      `writeReport: ${rows.toLocaleString('en')} rows, ${collection.pages} staged pages -> CSV in S3, fresh process…`,
    );
    const run = (await runChild(infra, 'writeReport child', [join(repoRoot, 'bench', 'write-report-child.ts'), file], {
      BENCH_S3_ENDPOINT: aws.motoEndpoint,
      BENCH_BUCKET: aws.bucket,
      BENCH_LEASE_UUID: leaseUuid,
    })) as Omit<WriteReportRun, 'rows' | 'stagedPages' | 'stagingSeconds' | 'downloadedSha256Matches'> & {
      key: string;
    };
    const downloaded = await sha256OfObject(s3, aws.bucket, run.key);
    writeReport.push({
      ...run,
      rows,
      stagedPages: collection.pages,
      stagingSeconds,
      downloadedSha256Matches: downloaded === run.checksumSha256,
    });
  }
  return { rows: opts.rows, rounds, builds, writeReport };
}

export function printReport(r: ReportResult) {
  const label: Record<BuildVariant, string> = {
    lambda: 'Lambda CSV step: concatenate pre-sorted rows, escape, guard',
    before: 'before: buildCostCsv at a0e3754 (decimal.js, csv-stringify) + SHA-256',
    ours: 'ours: CostReportBuilder (aggregate, sort, CSV bytes, SHA-256)',
  };
  const before = r.builds.filter((b) => b.variant === 'before');
  printTable(
    `3a. Report build: ${r.rows.toLocaleString('en')} rows, each variant in a fresh process, ${r.rounds} round(s)`,
    [
      'variant',
      'wall ms (each round)',
      'median ms',
      'of which SHA-256 ms (median)',
      'CPU ms (median)',
      'peak RSS growth MiB (median)',
      'of which input MiB',
      'growth vs before',
    ],
    BUILD_VARIANTS.map((v): Cell[] => {
      const runs = r.builds.filter((b) => b.variant === v);
      const growth = median(runs.map(growthKiB));
      const sha = runs.some((b) => b.sha256Ms !== undefined)
        ? round(median(runs.map((b) => b.sha256Ms ?? 0)), 1)
        : 'none';
      return [
        label[v],
        runs.map((b) => Math.round(b.buildMs)).join(' / '),
        Math.round(median(runs.map((b) => b.buildMs))),
        sha,
        Math.round(median(runs.map((b) => b.cpuMs))),
        round(growth / 1024, 1),
        round(median(runs.map((b) => b.withInputKiB - b.idleKiB)) / 1024, 1),
        `${round((growth / median(before.map(growthKiB))) * 100, 0)}%`,
      ];
    }),
    [
      'Same rows in every process: 40 services (a quarter with hostile names), 30% hostile resource names, amounts with 1 to 10 decimals, some credits.',
      'Peak RSS growth = maxRSS at the end minus maxRSS when the process was idle (modules loaded, no rows yet); it includes the input rows',
      '(and, for the Lambda step, sorting them into its pre-sorted input, which is not timed). Its costs are numbers formatted as the Lambda did.',
      `before and ours wrote the same CSV: ${r.builds.find((b) => b.variant === 'ours')!.bytes} bytes, SHA-256 ${r.builds.find((b) => b.variant === 'ours')!.sha256}.`,
      'SHA-256 is part of our build and the target, though the Lambda step has none: the column shows how much of the wall time it is.',
    ],
  );
  printTable(
    '3b. writeReport end to end (staged pages in S3 -> CSV in S3, checksum verified), fresh process',
    [
      'rows',
      'staged pages',
      'CSV MiB',
      'wall s',
      'peak RSS MiB',
      'growth MiB',
      'heartbeats',
      'longest heartbeat gap ms',
      'longest event-loop stall ms',
      'S3 object SHA-256 = reported',
    ],
    r.writeReport.map((w): Cell[] => [
      w.rows,
      w.stagedPages,
      mib(w.bytes),
      round(w.wallMs / 1000, 2),
      round(w.peakKiB / 1024, 1),
      round(growthKiB(w) / 1024, 1),
      w.heartbeats,
      Math.round(w.maxHeartbeatGapMs),
      Math.round(w.maxEventLoopDelayMs),
      w.downloadedSha256Matches ? 'yes' : 'NO',
    ]),
    [
      `Rows staged ${STAGED_ROWS_PER_PAGE} per page as the collect activity stages them (every tenth row repeats a key, so rows are summed), in moto.`,
      "The activity runs in a MockActivityEnvironment, which records its heartbeats; the stall is the event loop's longest delay (monitorEventLoopDelay).",
      `Every child of this section runs with the worker's node flags (the Dockerfile's ENTRYPOINT): ${workerNodeFlags().join(' ') || 'none'}.`,
    ],
  );
}
