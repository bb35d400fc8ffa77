// Builds one CSV report with src/csv.ts buildCostCsv in a fresh process, so the peak RSS measured
// (process.resourceUsage().maxRSS) is this build's own. Prints one JSON line on stdout.
// Usage: node --import tsx bench/report-child.ts <rows>
import { createHash } from 'node:crypto';
import { buildCostCsv } from '../src/domain/csv';
import type { CostRow } from '../src/domain/schemas';

const rows = Number(process.argv[2] ?? 100_000);
if (!Number.isInteger(rows) || rows < 1) throw new Error(`rows must be a positive integer, got ${process.argv[2]}`);

const rssAtStartKiB = process.resourceUsage().maxRSS;
// Deterministic input (the shape of test/integration/scale.test.ts): distinct resources over 40
// services, amounts with 6 decimals, so the checksum is the same on every machine.
const input: CostRow[] = Array.from({ length: rows }, (_, i) => ({
  service: `Service ${i % 40}`,
  resourceName: `arn:aws:ec2:eu-west-2:777788889999:volume/vol-${i.toString(16).padStart(8, '0')}`,
  region: 'eu-west-2',
  cost: `${i % 97}.${String(i).padStart(6, '0')}`,
}));
const rssWithInputBytes = process.memoryUsage().rss;

const t0 = performance.now();
const { csv, rowCount, total } = buildCostCsv(input);
const buildMs = performance.now() - t0;
const sha256 = createHash('sha256').update(csv, 'utf8').digest('hex');

process.stdout.write(`${JSON.stringify({
  rows,
  rowCount,
  total,
  csvBytes: Buffer.byteLength(csv, 'utf8'),
  buildMs,
  rowsPerSecond: rowCount / (buildMs / 1000),
  sha256,
  peakRssKiB: process.resourceUsage().maxRSS,
  rssAtStartKiB,
  rssWithInputBytes,
  node: process.version,
})}\n`);
