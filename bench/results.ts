// Each run appended, with its machine and sizes, to bench/results/<YYYY-MM-DD>.json (not in git).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/tools';
import { log } from './format';

export function writeResults(run: Record<string, unknown>, startedAt: Date): string {
  const dir = join(repoRoot, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${startedAt.toISOString().slice(0, 10)}.json`);
  let doc: { runs: unknown[] } = { runs: [] };
  if (existsSync(file)) {
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { runs?: unknown[] };
      if (Array.isArray(parsed.runs)) doc = { runs: parsed.runs };
    } catch {
      log(`${file} did not parse: starting it afresh`);
    }
  }
  doc.runs.push(run);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`);
  return file;
}
