import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/dev/ports';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lease-costs.mjs');
const LIMIT_MS = 180_000;

describe('npm run demo', () => {
  it('runs headless, publishes four leases (one found only by the reconcile schedule) and prints CSV location, top rows, exact total and UI link for each', async () => {
    const [port, uiPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
    const t0 = Date.now();
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, 'demo', '--exit', '--port', String(port), '--ui-port', String(uiPort)], {
        // Only what a newcomer's shell would have: the demo must bring everything else itself.
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WEBHOOK_PORT: String(webhookPort) },
        timeout: LIMIT_MS,
        maxBuffer: 64 * 1024 * 1024,
      }, (err, out, errOut) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: out, stderr: errOut }));
    });
    const elapsed = Date.now() - t0;
    expect(code, `demo failed:\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`).toBe(0);
    expect(elapsed).toBeLessThan(LIMIT_MS);

    const report = stdout.slice(stdout.indexOf('=== lease cost reports ==='));
    expect(stdout).toContain('schedule lease-costs-reconcile triggered');
    expect(report).toContain('4/4 leases published');
    expect(report).toContain('lease whose webhook was missed (picked up by the reconcile schedule)');
    const blocks = report.split(/\n(?=\S.*\n  lease )/).slice(1);
    expect(blocks).toHaveLength(4);
    for (const block of blocks) {
      const csvLine = block.match(/CSV\s+s3:\/\/\S+\.csv \(copy: (\S+\.csv)\)/);
      const total = block.match(/total\s+(-?\d+(?:\.\d+)?) USD \(exact\)/);
      const ui = block.match(/Temporal UI\s+(http:\/\/127\.0\.0\.1:(\d+)\/namespaces\/default\/workflows\/lease-costs-[0-9a-f-]{36})/);
      expect(csvLine, block).not.toBeNull();
      expect(total, block).not.toBeNull();
      expect(ui, block).not.toBeNull();
      expect(Number(ui![2])).toBe(uiPort);
      // Top rows are printed, and the printed total is exactly the sum of the CSV it names.
      const topRows = block.slice(block.indexOf('top rows:')).split('\n').slice(1).filter((l) => /^\s+-?\d/.test(l));
      expect(topRows.length).toBeGreaterThan(0);
      const [header, ...rows] = parse(await readFile(csvLine![1]!, 'utf8')) as string[][];
      expect(header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
      const sum = rows.reduce((acc, r) => acc.plus(r[3]!), new Decimal(0));
      expect(sum.toFixed()).toBe(new Decimal(total![1]!).toFixed());
      expect(topRows[0]!.trim().split(/\s+/)[0]).toBe(rows[0]![3]);
    }
  });
});
