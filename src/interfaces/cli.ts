import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, loadConfig, type Role } from '../infrastructure/config';
import { MAX_PADDING_HOURS } from '../domain/defaults';
import { COST_SCOPES, type CostScope } from '../domain/cost-scope';
import { COST_GROUPINGS, UserEmail, type CostGrouping } from '../domain/ledger';
import { IsoDate, IsoDateTime, LeaseUuid } from '../domain/schemas';
import { addressInUse, CliError, EXIT_BAD_CONFIG, ledgerProblem, payloadKeyProblem } from './cli-error';
import { addDeploymentCommands } from './commands/deployment';

/** package.json is two levels up from src/interfaces/cli.ts, one from the compiled dist/cli.mjs. */
const version =
  ['../../package.json', '../package.json']
    .map((path) => new URL(path, import.meta.url))
    .filter((url) => existsSync(url))
    .map((url) => JSON.parse(readFileSync(url, 'utf8')) as { name?: string; version: string })
    .find((pkg) => pkg.name === 'lease-costs')?.version ?? 'unknown';

/** The same canonical (lower-case, non-nil) uuid the webhook and workflow ids use. */
const uuidArg = (v: string) => {
  const parsed = LeaseUuid.safeParse(v);
  if (!parsed.success) throw new InvalidArgumentError(`must be a lease uuid (${parsed.error.issues[0]?.message})`);
  return parsed.data;
};
const intArg = (min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max)
    throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
  return Number(v);
};
/** A real calendar day: Date.parse would roll 2026-02-30 over into March. */
const dateArg = (v: string) => {
  if (!IsoDate.safeParse(v).success) throw new InvalidArgumentError('must be YYYY-MM-DD');
  return v;
};
/** A lease's end, as an operator corrects it: a real instant, not in the future. */
const terminatedAtArg = (v: string) => {
  if (!IsoDateTime.safeParse(v).success)
    throw new InvalidArgumentError('must be an ISO 8601 date-time with offset, e.g. 2026-02-03T09:45:12Z');
  if (Date.parse(v) > Date.now() + 5 * 60_000) throw new InvalidArgumentError('must not be in the future');
  return new Date(v).toISOString();
};
const accountArg = (v: string) => {
  if (!/^\d{12}$/.test(v)) throw new InvalidArgumentError('must be a 12-digit AWS account id');
  return v;
};

/** The ledger keeps e-mails in one case (UserEmail), so `--user Ada@…` finds ada@…. */
const emailArg = (v: string) => {
  const parsed = UserEmail.safeParse(v);
  if (!parsed.success) throw new InvalidArgumentError('must be an e-mail address');
  return parsed.data;
};

/**
 * What each command's configuration must hold, checked at start. One table, so the hub stack's
 * tests can run the same check on each task's environment (test/infra/task-config.ts).
 */
export const COMMAND_ROLES = {
  worker: ['worker'],
  webhook: ['webhook'],
  'codec-server': ['codec'],
  status: ['client'],
  rerun: ['client'],
  'collect-now': ['client'],
  check: ['worker'],
  report: ['report'],
  backfill: ['client', 'isb'],
  costs: ['ledger'],
  'schedule install': ['client'],
  'group-report': ['client'],
  intake: ['client'],
  'deployment status': ['client'],
  'deployment promote': ['client'],
} as const satisfies Record<string, readonly Role[]>;
export type ConfiguredCommand = keyof typeof COMMAND_ROLES;

const configFor = (command: ConfiguredCommand) => loadConfig(process.env, [...COMMAND_ROLES[command]]);

export function buildCli(): Command {
  const program = new Command('lease-costs')
    .description('Durable, exact per-lease AWS cost reports for Innovation Sandbox on AWS')
    .version(version)
    // One line per mistake, in the same voice as our own errors; `--help` shows the usage.
    .configureOutput({ outputError: (message, write) => write(`lease-costs: ${message.replace(/^error: /, '')}`) })
    // Argument errors throw a CommanderError instead of exiting 1, so main() can exit 2 as documented.
    // Set before the subcommands are added: they inherit it.
    .exitOverride();

  program
    .command('worker')
    .description('run a worker only')
    .option('--setup', 'first register the search attributes and install the reconcile schedule (idempotent)')
    .action(async (opts: { setup?: boolean }) => {
      const { runWorker } = await import('./commands/worker');
      await runWorker(configFor('worker'), opts);
    });

  program
    .command('webhook')
    .description('run the webhook server only')
    .action(async () => {
      const { webhookCommand } = await import('./commands/webhook');
      await webhookCommand(configFor('webhook'));
    });

  program
    .command('codec-server')
    .description('the payload codec endpoint for Temporal UI (needs PAYLOAD_ENCRYPTION_KEYS)')
    .action(async () => {
      const { codecServerCommand } = await import('./commands/codec-server');
      await codecServerCommand(configFor('codec-server'));
    });

  program
    .command('status')
    .argument('<lease-uuid>', 'lease uuid', uuidArg)
    .option('--json', 'machine-readable output')
    .description('phase, settle-until time, pages fetched, last report')
    .action(async (uuid: string, opts: { json?: boolean }) => {
      const { statusCommand } = await import('./commands/status');
      await statusCommand(configFor('status'), uuid, opts);
    });

  program
    .command('rerun')
    .argument('<lease-uuid>', 'lease uuid', uuidArg)
    .option(
      '--padding-hours <n>',
      `billing padding for this re-run (0..${MAX_PADDING_HOURS})`,
      intArg(0, MAX_PADDING_HOURS),
    )
    .option(
      '--terminated-at <time>',
      "the lease's real end (ISO 8601), when the event's time was wrong; wins over the ISB API's end date",
      terminatedAtArg,
    )
    .option('--wait', 'follow the new version until it is published, then print it')
    .option('--json', 'machine-readable output')
    .description('a new report version for that lease, whether its workflow is open or closed')
    .action(
      async (uuid: string, opts: { paddingHours?: number; terminatedAt?: string; json?: boolean; wait?: boolean }) => {
        const { rerunCommand } = await import('./commands/rerun');
        await rerunCommand(configFor('rerun'), uuid, opts);
      },
    );

  program
    .command('collect-now')
    .argument('<lease-uuid>', 'lease uuid', uuidArg)
    .option('--json', 'machine-readable output')
    .description('skip the rest of the settle delay')
    .action(async (uuid: string, opts: { json?: boolean }) => {
      const { collectNowCommand } = await import('./commands/collect-now');
      await collectNowCommand(configFor('collect-now'), uuid, opts);
    });

  program
    .command('check')
    .description('verify every dependency of the configuration; exit 0 only when all pass')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { checkCommand } = await import('./commands/check');
      await checkCommand(configFor('check'), opts);
    });

  program
    .command('report')
    .description('a one-off report on the spot, no workflow')
    .requiredOption('--account <id>', 'AWS account id', accountArg)
    .requiredOption('--start <date>', 'first day, YYYY-MM-DD', dateArg)
    .requiredOption('--end <date>', 'end day, YYYY-MM-DD (exclusive)', dateArg)
    .option('--out <file>', 'write the CSV here instead of stdout')
    .action(async (opts: { account: string; start: string; end: string; out?: string }) => {
      const { reportCommand } = await import('./commands/report');
      await reportCommand(configFor('report'), opts);
    });

  program
    .command('backfill')
    .description('start runs for ISB leases that ended in a range and have none')
    .requiredOption('--since <date>', 'first end day, YYYY-MM-DD', dateArg)
    .option('--until <date>', 'last end day, YYYY-MM-DD (default today)', dateArg)
    .option('--dry-run', 'list what would be started, start nothing')
    .option('--rate <n>', 'runs started per minute at most (1..600, default 20)', intArg(1, 600))
    .action(async (opts: { since: string; until?: string; dryRun?: boolean; rate?: number }) => {
      const { backfillCommand } = await import('./commands/backfill');
      await backfillCommand(configFor('backfill'), opts);
    });

  program
    .command('costs')
    .description('exact totals from the cost ledger (the newest report version of each lease)')
    .option('--user <email>', "only this user's leases", emailArg)
    .option('--account <id>', 'only leases of this AWS account', accountArg)
    .option('--since <date>', 'first cost day, YYYY-MM-DD', dateArg)
    .option('--until <date>', 'last cost day, YYYY-MM-DD (inclusive)', dateArg)
    .addOption(new Option('--by <grouping>', 'one line per').choices(COST_GROUPINGS).default('lease'))
    .addOption(
      new Option('--scope <scope>', 'only reports that counted these record types (COST_SCOPE)').choices(COST_SCOPES),
    )
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'csv', 'json']).default('table'))
    .addOption(new Option('--csv', 'same as --format csv').conflicts('json'))
    .addOption(new Option('--json', 'same as --format json'))
    .action(
      async (opts: {
        user?: string;
        account?: string;
        since?: string;
        until?: string;
        by: CostGrouping;
        scope?: CostScope;
        format: 'table' | 'csv' | 'json';
        csv?: boolean;
        json?: boolean;
      }) => {
        if (opts.since && opts.until && opts.until < opts.since)
          throw new CliError(`--until ${opts.until} is before --since ${opts.since}`, EXIT_BAD_CONFIG);
        const { costsCommand } = await import('./commands/costs');
        const format = opts.csv ? 'csv' : opts.json ? 'json' : opts.format;
        await costsCommand(configFor('costs'), {
          user: opts.user,
          account: opts.account,
          since: opts.since,
          until: opts.until,
          scope: opts.scope,
          by: opts.by,
          format,
        });
      },
    );

  program
    .command('group-report')
    .description('the monthly group cost report for one month, on demand (CSVs in S3, GroupCostReportGenerated)')
    .requiredOption('--month <YYYY-MM>', 'the month')
    .option('--json', 'machine-readable output')
    .action(async (opts: { month: string; json?: boolean }) => {
      const { groupReportCommand } = await import('./commands/group-report');
      await groupReportCommand(configFor('group-report'), opts);
    });

  program
    .command('schedule')
    .description('the lease-costs-reconcile and lease-costs-monthly schedules')
    .command('install')
    .description('install (idempotently) the lease-costs-reconcile and lease-costs-monthly schedules')
    .option('--trigger', 'also start one reconciliation now')
    .option('--json', 'machine-readable output')
    .action(async (opts: { trigger?: boolean; json?: boolean }) => {
      const { scheduleInstallCommand } = await import('./commands/schedule');
      await scheduleInstallCommand(configFor('schedule install'), opts);
    });

  program
    .command('intake')
    .description('start runs from an SQS queue fed by an EventBridge rule')
    .requiredOption('--queue-url <url>', 'the SQS queue URL', (v: string) => {
      if (!URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol))
        throw new InvalidArgumentError('must be an SQS queue URL');
      return v;
    })
    .action(async (opts: { queueUrl: string }) => {
      const { intakeCommand } = await import('./commands/intake');
      await intakeCommand(configFor('intake'), opts.queueUrl);
    });

  addDeploymentCommands(program, configFor);

  const portArg = intArg(1, 65535);
  program
    .command('dev')
    .description('Temporal dev server (unless TEMPORAL_ADDRESS is set), a worker and the webhook')
    .option('--port <n>', 'dev server gRPC port', portArg, 7233)
    .option('--ui-port <n>', 'Temporal Web UI port', portArg, 8233)
    .option('--db-file <path>', 'SQLite file of the dev server (default .data/temporal.sqlite)')
    .option(
      '--ledger-dir <path>',
      'PGlite directory of the embedded ledger, used when DATABASE_URL is unset (default .data/ledger)',
    )
    .action(async (opts: { port: number; uiPort: number; dbFile?: string; ledgerDir?: string }) => {
      const { devCommand } = await import('./commands/dev');
      await devCommand(opts);
    });

  program
    .command('demo')
    .description('dev against local stand-ins for AWS and the ISB API, with sample leases')
    .option('--port <n>', 'dev server gRPC port', portArg, 7233)
    .option('--ui-port <n>', 'Temporal Web UI port', portArg, 8233)
    .option('--exit', 'exit after printing the reports (default when stdin is not a terminal)')
    .option('--keep-running', 'keep running after the reports even when stdin is not a terminal, until SIGINT/SIGTERM')
    .action(async (opts: { port: number; uiPort: number; exit?: boolean; keepRunning?: boolean }) => {
      const { demoCommand } = await import('./commands/demo');
      await demoCommand(opts);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  loadDotenv({ quiet: true });
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    // Commander has already printed its message (and help); --help and --version exit 0.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : EXIT_BAD_CONFIG);
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(EXIT_BAD_CONFIG);
    }
    const expected =
      err instanceof CliError ? err : (payloadKeyProblem(err) ?? addressInUse(err) ?? ledgerProblem(err));
    if (expected) {
      console.error(`lease-costs: ${expected.message}`);
      process.exit(expected.exitCode);
    }
    throw err;
  }
}
