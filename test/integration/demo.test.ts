import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { Decimal } from 'decimal.js';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../support/ports';
import { SERVICE_LEVEL_RESOURCE } from '../../src/domain/collection';
import { runCli } from '../helpers/cli';
import { checkEventContract } from '../../support/events';
import { waitFor } from '../helpers/wait';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lease-costs.mjs');
/**
 * A hang detector, not a speed claim: alone the demo takes about 40 s on this 2-core machine, and
 * beside the rest of the suite it took 55–156 s in today's runs.
 */
const LIMIT_MS = 240_000;

/** Collects a child's output; `until` resolves once stdout matches. */
function collect(child: ChildProcess) {
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (c: Buffer) => {
    out.stdout += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out.stderr += c.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const until = (re: RegExp) =>
    Promise.race([
      waitFor(async () => (re.test(out.stdout) ? true : undefined), LIMIT_MS, `demo output matching ${re}`),
      exited.then((code) => {
        if (!re.test(out.stdout)) throw new Error(`demo exited (${code}) before printing ${re}`);
        return true;
      }),
    ]);
  return { out, exited, until, kill: (signal: NodeJS.Signals) => child.kill(signal) };
}

describe('npm run demo', () => {
  it(
    'runs headless, publishes four leases (one found only by the reconcile schedule) and prints CSV location, chart link, top rows, exact total and UI link for each; only human lines; a second terminal can use the CLI; says what it does when stopped',
    async () => {
      const [port, uiPort, webhookPort] = [await freePort(), await freePort(), await freePort()];
      const t0 = Date.now();
      // Only what a newcomer's shell would have: the demo must bring everything else itself.
      const child = spawn(
        process.execPath,
        [BIN, 'demo', '--keep-running', '--port', String(port), '--ui-port', String(uiPort)],
        {
          env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WEBHOOK_PORT: String(webhookPort) },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      const demo = collect(child);
      try {
        await checkDemo(demo, { t0, port, uiPort });
      } finally {
        // A failed expectation must not leave the demo (and its servers) running.
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          await demo.exited;
        }
      }
    },
    LIMIT_MS + 60_000,
  );
});

async function checkDemo(
  demo: ReturnType<typeof collect>,
  { t0, port, uiPort }: { t0: number; port: number; uiPort: number },
) {
  try {
    await demo.until(/leases published/);
  } catch (err) {
    throw new Error(`demo did not finish:\n${demo.out.stdout.slice(-4000)}\n${demo.out.stderr.slice(-4000)}`, {
      cause: err,
    });
  }
  const elapsed = Date.now() - t0;
  expect(elapsed).toBeLessThan(LIMIT_MS);
  const { stdout } = demo.out;

  // Human lines only: the worker's, webhook's, SDK's and dev server's logs went to the file it names.
  expect(stdout.split('\n').filter((l) => /^\s*\{/.test(l))).toEqual([]);
  expect(demo.out.stderr).toBe('');
  const logPath = stdout.match(/their logs go to (\S+\.log)/)?.[1];
  expect(logPath, stdout).toMatch(/\.data\/demo\/demo\.log$/);
  expect((await readFile(logPath!, 'utf8')).split('\n').filter((l) => l.startsWith('{')).length).toBeGreaterThan(0);

  const report = stdout.slice(stdout.indexOf('=== lease cost reports ==='));
  expect(stdout).toContain('schedule lease-costs-reconcile triggered');
  expect(report).toContain('4/4 leases published');
  expect(report).toContain('lease whose webhook was missed (picked up by the reconcile schedule)');
  const blocks = report
    .slice(0, report.indexOf('=== lease-costs costs --by service ==='))
    .split(/\n(?=\S.*\n  lease )/)
    .slice(1);
  expect(blocks).toHaveLength(4);
  for (const block of blocks) {
    const csvLine = block.match(/CSV\s+s3:\/\/\S+\.csv \(copy: (\S+\.csv)\)/);
    const total = block.match(/total\s+(-?\d+(?:\.\d+)?) USD \(exact\)/);
    const ui = block.match(
      /Temporal UI\s+(http:\/\/127\.0\.0\.1:(\d+)\/namespaces\/default\/workflows\/lease-costs-[0-9a-f-]{36})/,
    );
    expect(csvLine, block).not.toBeNull();
    expect(total, block).not.toBeNull();
    expect(ui, block).not.toBeNull();
    expect(Number(ui![2])).toBe(uiPort);
    // Top rows are printed, and the printed total is exactly the sum of the CSV it names.
    const topRows = block
      .slice(block.indexOf('top rows:'))
      .split('\n')
      .slice(1)
      .filter((l) => /^\s+-?\d/.test(l));
    expect(topRows.length).toBeGreaterThan(0);
    const [header, ...rows] = parse(await readFile(csvLine![1]!, 'utf8')) as string[][];
    expect(header).toEqual(['Resource Name', 'Service', 'Region', 'Cost']);
    const sum = rows.reduce((acc, r) => acc.plus(r[3]!), new Decimal(0));
    expect(sum.toFixed()).toBe(new Decimal(total![1]!).toFixed());
    expect(topRows[0]!.trim().split(/\s+/)[0]).toBe(rows[0]![3]);
    // Beside the CSV, the HTML report: a link a browser opens, with the same exact total and the costliest row.
    const chartLine = block.match(/\n {2}chart\s+s3:\/\/\S+\.html \(open: (file:\/\/\S+\.html)\)\n/);
    expect(chartLine, block).not.toBeNull();
    const html = await readFile(fileURLToPath(chartLine![1]!), 'utf8');
    expect(html).toContain(`<dd class="total" id="total">${total![1]} USD</dd>`);
    // The costliest resource line heads the top resources (service-level lines are not resources).
    const costliest = rows
      .filter((r) => r[0] !== SERVICE_LEVEL_RESOURCE)
      .sort((a, b) => new Decimal(b[3]!).cmp(a[3]!))[0]!;
    expect(html.slice(html.indexOf(' resources</h2>')).match(/<td class="cost">([^<]*)<\/td>/)?.[1]).toBe(costliest[3]);
    expect(html).toMatch(/<svg[^>]*>[^]*aria-roledescription="bar"[^]*<\/svg>/);
    // The demo turns REPORT_FOCUS on: the FOCUS file's location is printed beside the CSV's.
    expect(block, block).toMatch(/\n {2}FOCUS\s+s3:\/\/lease-costs-demo\/\S+-v1\.focus\.csv\n/);
    // Why the lease ended, from the ISB's event (the reconciled lease had none), and both events.
    expect(block, block).toMatch(
      /\n {2}ended\s+(Expired \(lease duration 480 h\)|BudgetExceeded \(spent 50\.37 USD of a 50 USD budget\)|ManuallyTerminated: Terminated by admin|\(no LeaseTerminated event: found by the reconcile schedule\))\n/,
    );
    expect(block, block).toMatch(
      /\n {2}events\s+LeaseCostsGenerated \(totalCost -?\d+(\.\d+)?\), LeaseCostsReportPublished × 1\n/,
    );
  }

  // Every event the demo emitted, as a consumer's rule received it: each passes its contract
  // (LeaseCostsGenerated exactly as the NDX notification service accepts it), one of each per lease.
  const eventsPath = stdout.match(/as a consumer's rule receives them: (\S+\.jsonl)/)?.[1];
  expect(eventsPath, stdout).toBeDefined();
  const emitted = (await readFile(eventsPath!, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { 'detail-type': string; source: string; detail: { leaseId: string } });
  for (const e of emitted) checkEventContract(e);
  const uuids = blocks.map((b) => b.match(/lease ([0-9a-f-]{36})/)![1]!).sort();
  for (const type of ['LeaseCostsGenerated', 'LeaseCostsReportPublished']) {
    expect(
      emitted
        .filter((e) => e['detail-type'] === type)
        .map((e) => e.detail.leaseId)
        .sort(),
      type,
    ).toEqual(uuids);
  }

  // The environment block, as a second terminal would paste it, runs `status` for a demo lease.
  const cliEnv = Object.fromEntries([...stdout.matchAll(/^ {2}export (\w+)='([^']*)'$/gm)].map((m) => [m[1]!, m[2]!]));
  expect(Object.keys(cliEnv)).toEqual(
    expect.arrayContaining([
      'TEMPORAL_ADDRESS',
      'PAYLOAD_ENCRYPTION_KEYS',
      'AWS_ENDPOINT_URL_S3',
      'S3_BUCKET_NAME',
      'EVENT_BUS_NAME',
      'ISB_API_BASE_URL',
    ]),
  );
  expect(cliEnv.TEMPORAL_ADDRESS).toBe(`127.0.0.1:${port}`);
  const uuid = blocks[0]!.match(/lease ([0-9a-f-]{36})/)![1]!;
  const status = await runCli(['status', uuid], cliEnv);
  expect(status.code, status.stderr).toBe(0);
  expect(status.stdout).toMatch(/phase\s+published/);
  expect(status.stdout).toMatch(new RegExp(`report\\s+v1 s3://lease-costs-demo/\\S+${uuid}-v1\\.csv`));
  expect(status.stdout).toMatch(new RegExp(`FOCUS\\s+v1 s3://lease-costs-demo/\\S+${uuid}-v1\\.focus\\.csv`));

  // The ledger, from a second terminal while the demo runs (its PGlite lives in the demo process).
  expect(stdout).toContain('=== lease-costs costs --by service ===');
  expect(cliEnv.DATABASE_URL).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres/);
  const [byService, byLease] = await Promise.all([
    runCli(['costs', '--by', 'service', '--json'], cliEnv),
    runCli(['costs', '--by', 'lease', '--json'], cliEnv),
  ]);
  expect(byService.code, byService.stderr).toBe(0);
  expect(byLease.code, byLease.stderr).toBe(0);
  const services = JSON.parse(byService.stdout) as { total: string; lines: { cost: string }[] };
  expect(services.lines.reduce((a, l) => a.plus(l.cost), new Decimal(0)).toFixed()).toBe(
    new Decimal(services.total).toFixed(),
  );
  // All four leases are in the ledger, each at exactly the total its report printed, and the
  // per-service total the demo printed is their sum.
  const printedTotal = new Map(
    blocks.map((b) => [b.match(/lease ([0-9a-f-]{36})/)![1]!, b.match(/total\s+(-?\d+(?:\.\d+)?) USD/)![1]!]),
  );
  const ledgerLeases = (JSON.parse(byLease.stdout) as { lines: { key: string; cost: string }[] }).lines;
  expect(ledgerLeases.map((l) => l.key).sort()).toEqual([...printedTotal.keys()].sort());
  for (const l of ledgerLeases)
    expect(new Decimal(l.cost).toFixed(), l.key).toBe(new Decimal(printedTotal.get(l.key)!).toFixed());
  const sumOfReports = [...printedTotal.values()].reduce((a, t) => a.plus(t), new Decimal(0)).toFixed();
  expect(new Decimal(services.total).toFixed()).toBe(sumOfReports);
  const demoTable = stdout.slice(stdout.indexOf('=== lease-costs costs --by service ==='));
  expect(demoTable).toMatch(/^SERVICE\s+COST \(USD\)\s+LEASES$/m);
  expect(demoTable.match(/^total\s+(-?\d+(?:\.\d+)?)$/m)?.[1]).toBe(sumOfReports);

  // Chargeback: each lease's cost report group, the ledger by group, and this month's group report.
  expect(blocks[0]).toMatch(/cost report group Digital Services/);
  const byGroup = stdout.slice(stdout.indexOf('=== lease-costs costs --by group ==='));
  expect(byGroup).toMatch(/^Digital Services\s+-?\d/m);
  expect(byGroup).toMatch(/^\(no group\)\s+-?\d/m);
  const monthly = stdout.slice(stdout.indexOf('=== lease-costs group-report --month'));
  expect(monthly).toMatch(
    /groups CSV\s+s3:\/\/lease-costs-demo\/reports\/group-reports\/\d{4}\/\d{2}\/cost-report-\d{4}-\d{2}\.csv/,
  );
  expect(monthly).toMatch(/^Research\s+-?\d+(\.\d+)?\s+2 leases$/m); // an ended lease and the active one

  demo.kill('SIGTERM');
  expect(await demo.exited).toBe(0);
  const stopping = demo.out.stdout.slice(demo.out.stdout.indexOf('SIGTERM: stopping'));
  expect(stopping).toMatch(/stopping the worker, webhook and Temporal dev server…/);
  expect(stopping).toMatch(/stopping the local stand-ins/);
  expect(stopping).toMatch(/\nstopped \(logs: \S+demo\.log\)\n$/);
  expect(demo.out.stdout.split('\n').filter((l) => /^\s*\{/.test(l))).toEqual([]);
}
