import { Command, InvalidArgumentError } from 'commander';
import { config as loadDotenv } from 'dotenv';
import { ConfigError, loadConfig, type Role } from '../infrastructure/config';
import { CliError } from './cli-error';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const uuidArg = (v: string) => {
  if (!UUID_RE.test(v)) throw new InvalidArgumentError('must be a lease uuid');
  return v.toLowerCase();
};
const intArg = (min: number, max: number) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new InvalidArgumentError(`must be an integer ${min}..${max}`);
  return Number(v);
};
const dateArg = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw new InvalidArgumentError('must be YYYY-MM-DD');
  return v;
};
const accountArg = (v: string) => {
  if (!/^\d{12}$/.test(v)) throw new InvalidArgumentError('must be a 12-digit AWS account id');
  return v;
};

const configFor = (...roles: Role[]) => loadConfig(process.env, roles);

export function buildCli(): Command {
  const program = new Command('lease-costs')
    .description('Durable, exact per-lease AWS cost reports for Innovation Sandbox on AWS')
    .showHelpAfterError();

  program.command('worker').description('run a worker only').action(async () => {
    const { runWorker } = await import('./commands/worker');
    await runWorker(configFor('worker'));
  });

  program.command('webhook').description('run the webhook server only').action(async () => {
    const { webhookCommand } = await import('./webhook');
    await webhookCommand(configFor('webhook'));
  });

  program.command('codec-server').description('the payload codec endpoint for Temporal UI (needs PAYLOAD_ENCRYPTION_KEYS)').action(async () => {
    const { runCodecServer } = await import('./codec-server');
    const { untilSignal } = await import('../dev/dev');
    const codec = await runCodecServer(configFor('codec'));
    console.log(JSON.stringify({ level: 'info', msg: 'codec endpoint listening', url: codec.url }));
    await untilSignal();
    await codec.close();
  });

  program.command('status').argument('<lease-uuid>', 'lease uuid', uuidArg)
    .option('--json', 'machine-readable output')
    .description('phase, settle-until time, pages fetched, last report')
    .action(async (uuid: string, opts: { json?: boolean }) => {
      const { statusCommand } = await import('./commands/operate');
      await statusCommand(configFor('client'), uuid, opts);
    });

  program.command('rerun').argument('<lease-uuid>', 'lease uuid', uuidArg)
    .option('--padding-hours <n>', 'billing padding for this re-run (0..168)', intArg(0, 168))
    .option('--json', 'machine-readable output')
    .description('a new report version for that lease, whether its workflow is open or closed')
    .action(async (uuid: string, opts: { paddingHours?: number; json?: boolean }) => {
      const { rerunCommand } = await import('./commands/operate');
      await rerunCommand(configFor('client'), uuid, opts);
    });

  program.command('collect-now').argument('<lease-uuid>', 'lease uuid', uuidArg)
    .option('--json', 'machine-readable output')
    .description('skip the rest of the settle delay')
    .action(async (uuid: string, opts: { json?: boolean }) => {
      const { collectNowCommand } = await import('./commands/operate');
      await collectNowCommand(configFor('client'), uuid, opts);
    });

  program.command('report').description('a one-off report on the spot, no workflow')
    .requiredOption('--account <id>', 'AWS account id', accountArg)
    .requiredOption('--start <date>', 'first day, YYYY-MM-DD', dateArg)
    .requiredOption('--end <date>', 'end day, YYYY-MM-DD (exclusive)', dateArg)
    .option('--out <file>', 'write the CSV here instead of stdout')
    .action(async (opts: { account: string; start: string; end: string; out?: string }) => {
      const { reportCommand } = await import('./commands/report');
      await reportCommand(configFor('report'), opts);
    });

  program.command('backfill').description('start runs for ISB leases that ended in a range and have none')
    .requiredOption('--since <date>', 'first end day, YYYY-MM-DD', dateArg)
    .option('--until <date>', 'last end day, YYYY-MM-DD (default today)', dateArg)
    .option('--dry-run', 'list what would be started, start nothing')
    .option('--rate <n>', 'runs started per minute at most (1..600, default 20)', intArg(1, 600))
    .action(async (opts: { since: string; until?: string; dryRun?: boolean; rate?: number }) => {
      const { backfillCommand } = await import('./commands/backfill');
      await backfillCommand(configFor('client', 'isb'), opts);
    });

  program.command('schedule').description('the lease-costs-reconcile schedule')
    .command('install').description('install (idempotently) the lease-costs-reconcile schedule')
    .option('--trigger', 'also start one reconciliation now')
    .option('--json', 'machine-readable output')
    .action(async (opts: { trigger?: boolean; json?: boolean }) => {
      const { scheduleInstallCommand } = await import('./commands/schedule');
      await scheduleInstallCommand(configFor('client'), opts);
    });

  program.command('intake').description('start runs from an SQS queue fed by an EventBridge rule')
    .requiredOption('--queue-url <url>', 'the SQS queue URL', (v: string) => {
      if (!URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol)) throw new InvalidArgumentError('must be an SQS queue URL');
      return v;
    })
    .action(async (opts: { queueUrl: string }) => {
      const { intakeCommand } = await import('./intake');
      await intakeCommand(configFor('client'), opts.queueUrl);
    });

  const portArg = intArg(1, 65535);
  program.command('dev').description('Temporal dev server (unless TEMPORAL_ADDRESS is set), a worker and the webhook')
    .option('--port <n>', 'dev server gRPC port', portArg, 7233)
    .option('--ui-port <n>', 'Temporal Web UI port', portArg, 8233)
    .option('--db-file <path>', 'SQLite file of the dev server (default .data/temporal.sqlite)')
    .action(async (opts: { port: number; uiPort: number; dbFile?: string }) => {
      const { devCommand } = await import('../dev/dev');
      await devCommand(opts);
    });

  program.command('demo').description('dev against local stand-ins for AWS and the ISB API, with sample leases')
    .option('--port <n>', 'dev server gRPC port', portArg, 7233)
    .option('--ui-port <n>', 'Temporal Web UI port', portArg, 8233)
    .option('--exit', 'exit after printing the reports (default when stdin is not a terminal)')
    .action(async (opts: { port: number; uiPort: number; exit?: boolean }) => {
      const { demoCommand } = await import('../dev/demo');
      await demoCommand(opts);
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  loadDotenv({ quiet: true });
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    if (err instanceof CliError) {
      console.error(`lease-costs: ${err.message}`);
      process.exit(err.exitCode);
    }
    throw err;
  }
}
