// `npm run bench`: the lease-costs benchmark on the local stack (Temporal dev server, moto, the Cost
// Explorer and ISB API fakes). Prints one table per section plus a targets table, and appends the
// run to bench/results/<YYYY-MM-DD>.json with the machine it ran on. Each section is a module under
// bench/sections/; this entry parses the options and runs the chosen ones in a fixed order.
//
//   node --import tsx bench/run.ts [--only burst,calls,report,history,webhook] [--leases N] [--quick]
//                                  [--requests N] [--rows N]
import os from 'node:os';
import { SMALL } from './datasets';
import { log, round } from './format';
import { Infra } from './infra';
import { machineInfo, printMachine } from './machine';
import { parseOptions } from './options';
import { writeResults } from './results';
import { burstSection, printBurst } from './sections/burst';
import { datasetSection, printCalls } from './sections/calls';
import { printHistory } from './sections/history';
import { pinnedCallsSection, printPinnedCalls } from './sections/pinned-calls';
import { printReport, reportSection } from './sections/report';
import { printWebhook, webhookSection } from './sections/webhook';
import { printTargets, targets, type SectionResults } from './targets';

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  // The SDK's Node 20 deprecation notice says nothing about this run.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const startedAt = new Date();
  const machine = machineInfo();
  printMachine(machine, opts);

  const infra = new Infra();
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    log(`${signal}: stopping everything the bench started…`);
    void infra.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: SectionResults = {};
  const errors: Record<string, string> = {};
  const attempt = async (name: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors[name] = (err as Error).stack ?? String(err);
      log(`${name} failed: ${(err as Error).message}`);
      process.exitCode = 1;
    }
  };
  try {
    if (opts.only.has('report'))
      await attempt('report', async () => printReport((results.report = await reportSection(infra, opts))));
    if (opts.only.has('calls') || opts.only.has('history')) {
      await attempt('calls/history', async () => {
        results.datasets = await datasetSection(infra, opts);
        if (opts.only.has('calls')) {
          printCalls(results.datasets);
          printPinnedCalls((results.pinnedCalls = await pinnedCallsSection(opts)));
        }
        if (opts.only.has('history')) printHistory(results.datasets);
      });
    }
    if (opts.only.has('burst'))
      await attempt('burst', async () => printBurst((results.burst = await burstSection(infra, opts)), opts));
    if (opts.only.has('webhook'))
      await attempt('webhook', async () => printWebhook((results.webhook = await webhookSection(infra, opts))));
  } finally {
    log('stopping everything the bench started…');
    await infra.close();
  }

  const verdicts = targets(results, opts);
  printTargets(verdicts, errors, opts);

  const file = writeResults(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      args: process.argv.slice(2),
      quick: opts.quick,
      sections: [...opts.only],
      sizes: { leases: opts.leases, requests: opts.requests, rows: opts.rows, small: SMALL, large: opts.large },
      machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => round(l)) },
      results,
      targets: verdicts,
      errors,
    },
    startedAt,
  );
  console.log(`\nresults appended to ${file}`);
}

await main();
