// Small helpers for the benchmark: tables, statistics, concurrency.

export type Cell = string | number | undefined;

/** Prints a plain-text table with a title; numbers are right-aligned. */
export function printTable(title: string, headers: string[], rows: Cell[][], notes: string[] = []): void {
  const text = rows.map((r) => headers.map((_, i) => (r[i] === undefined ? '' : String(r[i]))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const numeric = headers.map(
    (_, i) => rows.length > 0 && rows.every((r) => r[i] === undefined || typeof r[i] === 'number'),
  );
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const out = [
    '',
    `## ${title}`,
    '',
    line(headers),
    `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...text.map(line),
    ...notes.map((n) => `  ${n}`),
  ];
  console.log(out.join('\n'));
}

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
export const mib = (bytes: number) => round(bytes / 1024 / 1024, 1);
export const kib = (bytes: number) => round(bytes / 1024, 1);

/** Nearest-rank percentile of an unsorted sample. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export const median = (xs: number[]) => percentile(xs, 50);

/** Runs `fn` over `items` with at most `concurrency` in flight; results keep the input order. */
export async function pool<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return results;
}

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
