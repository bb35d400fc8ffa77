// One report build in a fresh process, so its peak RSS (process.resourceUsage().maxRSS) is its own.
// Prints one JSON line on stdout.
// Usage: node --expose-gc --import tsx bench/report-child.ts <lambda|before|ours> <rows>
//
//   lambda  the Lambda system's CSV step (seed 004; its csv-generator.ts): string concatenation of
//           rows it had already aggregated and sorted, each cost a number formatted with
//           toFixed(10) minus trailing zeros, RFC 4180 escaping and, as the benchmark issue asks,
//           our formula guard. Preparing its sorted input (rows made in arrival order, then
//           sorted) is not timed.
//   before  buildCostCsv as it was before the byte writer (support/csv-before.ts), then SHA-256.
//   ours    CostReportBuilder: aggregate, sort, CSV bytes and SHA-256, as writeReport's first pass.
import { createHash } from 'node:crypto';
import { CostReportBuilder, neutraliseCell } from '../src/domain/csv';
import { costRows } from '../support/cost-rows';
import { buildCostCsvBefore } from '../support/csv-before';

// The golden test pins this dataset's CSV ("the benchmark rows").
const BENCH_SEED = 16;
const [variant, rowsArg] = process.argv.slice(2);
const rows = Number(rowsArg ?? 100_000);
if (!['lambda', 'before', 'ours'].includes(variant ?? '') || !Number.isInteger(rows) || rows < 1) {
  throw new Error('usage: report-child.ts <lambda|before|ours> <rows>');
}

const idleKiB = process.resourceUsage().maxRSS;
let input = [...costRows(rows, BENCH_SEED)];
let lambdaRows: { resourceName: string; service: string; region: string; cost: number }[] = [];
if (variant === 'lambda') {
  // Its row objects are made as pages arrive and then sorted in place, as the Lambda's would be:
  // made in sorted order instead, they would lie in memory in the order the loop reads them, a
  // layout that neither its rows nor ours have (measured: about 15 % faster). The order is the
  // report's; every row's resource name is distinct.
  const report = new CostReportBuilder();
  report.add(input);
  const place = new Map<string, number>();
  for (const line of report.finish().lines()) place.set(line.resourceName, place.size);
  if (place.size !== input.length) throw new Error('the benchmark rows must have distinct resource names');
  lambdaRows = new Array<(typeof lambdaRows)[number]>(input.length);
  for (const r of input) lambdaRows[place.get(r.resourceName)!] = { ...r, cost: Number(r.cost) };
  place.clear();
  input = [];
}
const withInputKiB = process.resourceUsage().maxRSS;

function lambdaCsvStep(): string {
  const cell = (value: string) => {
    const v = neutraliseCell(value);
    return v.includes(',') || v.includes('"') || v.includes('\n') || v.includes('\r')
      ? `"${v.replace(/"/g, '""')}"`
      : v;
  };
  const formatCost = (cost: number) => cost.toFixed(10).replace(/\.?0+$/, '') || '0';
  let csv = 'Resource Name,Service,Region,Cost\r\n';
  for (const r of lambdaRows)
    csv += `${cell(r.resourceName)},${cell(r.service)},${cell(r.region)},${formatCost(r.cost)}\r\n`;
  return csv;
}

// Every variant starts from a settled heap: its input promoted out of the young generation, so
// no variant pays for collecting the others' preparation (the Lambda's sorting, ours: none).
(globalThis as { gc?: () => void }).gc?.();
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let result: { rowCount: number; bytes?: number; chars?: number; sha256?: string; sha256Ms?: number; total?: string };
// The SHA-256 part of the build, timed on its own: the Lambda step has none to pay.
let sha256Ms = 0;
const timedDigest = <T>(f: () => T): T => {
  const t = performance.now();
  const r = f();
  sha256Ms += performance.now() - t;
  return r;
};
if (variant === 'lambda') {
  const csv = lambdaCsvStep();
  // Its length in UTF-16 units: counting UTF-8 bytes would flatten the string, which it never does.
  result = { rowCount: lambdaRows.length, chars: csv.length };
} else if (variant === 'before') {
  const { csv, rowCount, total } = buildCostCsvBefore(input);
  const sha256 = timedDigest(() => createHash('sha256').update(csv, 'utf8').digest('hex'));
  result = { rowCount, total, bytes: Buffer.byteLength(csv), sha256, sha256Ms };
} else {
  const builder = new CostReportBuilder();
  builder.add(input);
  const report = builder.finish();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const chunk of report.chunks({ reuse: true })) {
    timedDigest(() => hash.update(chunk));
    bytes += chunk.length;
  }
  result = {
    rowCount: report.rowCount,
    total: report.total,
    bytes,
    sha256: timedDigest(() => hash.digest('hex')),
    sha256Ms,
  };
}
const buildMs = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);

process.stdout.write(
  `${JSON.stringify({
    variant,
    rows,
    ...result,
    buildMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    idleKiB,
    withInputKiB,
    peakKiB: process.resourceUsage().maxRSS,
  })}\n`,
);
