import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { type Command, InvalidArgumentError } from 'commander';
import { type Config, ConfigSchema } from '../../infrastructure/config';
import type * as WorkerDeployment from '../../infrastructure/worker-deployment';
import type {
  DeploymentReport,
  DeploymentTarget,
  DeploymentVersionReport,
  PromoteResult,
} from '../../infrastructure/worker-deployment';
import { CliError, EXIT_BAD_CONFIG } from '../cli-error';

// `lease-costs deployment status|promote`: Worker Versioning from the deploy's side. The deploy
// (or the operator) makes a build current once its workers poll, never the worker itself
// (docs/upgrade.md). Temporal code loads only when one of these runs.

type DeploymentCommand = 'deployment status' | 'deployment promote';
const DEFAULT_TIMEOUT_SECONDS = 300;
const POLL_MS = 2_000;

const buildIdArg = (v: string) => {
  const parsed = ConfigSchema.shape.TEMPORAL_WORKER_BUILD_ID.safeParse(v);
  if (!parsed.success || !parsed.data)
    throw new InvalidArgumentError(parsed.success ? 'must not be empty' : parsed.error.issues[0]!.message);
  return parsed.data;
};
const secondsArg = (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) > 3600) throw new InvalidArgumentError('must be an integer 0..3600');
  return Number(v);
};

/** `deployment status` and `deployment promote`, under `program`. */
export function addDeploymentCommands(program: Command, configFor: (command: DeploymentCommand) => Config): void {
  const deployment = program
    .command('deployment')
    .description('Worker Versioning: the builds of TEMPORAL_DEPLOYMENT_NAME and which one new runs go to');
  deployment
    .command('status')
    .description('each build: current, ramping, draining or drained, and whether its workers poll')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      await deploymentStatusCommand(configFor('deployment status'), opts);
    });
  deployment
    .command('promote')
    .description('make a build current (new runs go to it) once its workers poll every task queue; idempotent')
    .requiredOption('--build-id <id>', 'the build: TEMPORAL_WORKER_BUILD_ID of its workers', buildIdArg)
    .option(
      '--timeout <seconds>',
      'how long to wait for its workers to poll (0..3600)',
      secondsArg,
      DEFAULT_TIMEOUT_SECONDS,
    )
    .option('--json', 'machine-readable output')
    .action(async (opts: { buildId: string; timeout: number; json?: boolean }) => {
      await deploymentPromoteCommand(configFor('deployment promote'), opts);
    });
}

const targetOf = (config: Config): DeploymentTarget => ({
  namespace: config.TEMPORAL_NAMESPACE,
  deploymentName: config.TEMPORAL_DEPLOYMENT_NAME,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
});

const noDeployment = (target: DeploymentTarget) =>
  new CliError(
    `no versioned worker of deployment "${target.deploymentName}" has polled namespace ${target.namespace}: ` +
      'workers join it with TEMPORAL_DEPLOYMENT_NAME and TEMPORAL_WORKER_BUILD_ID (unset, they run unversioned)',
    EXIT_BAD_CONFIG,
  );

async function withDeployments<T>(
  config: Config,
  run: (ops: typeof WorkerDeployment, client: Client) => Promise<T>,
): Promise<T> {
  const [{ connect }, ops] = await Promise.all([
    import('../lease-status'),
    import('../../infrastructure/worker-deployment'),
  ]);
  const client = await connect(config);
  try {
    return await run(ops, client);
  } finally {
    await client.connection.close();
  }
}

export async function deploymentStatusCommand(config: Config, opts: { json?: boolean }): Promise<void> {
  const target = targetOf(config);
  const report = await withDeployments(config, (ops, client) => ops.describeDeployment(client, target));
  if (!report) throw noDeployment(target);
  console.log(opts.json ? JSON.stringify(report, null, 2) : statusText(report));
}

const stateOf = (v: DeploymentVersionReport) => (v.state === 'ramping' ? `ramping ${v.rampPercentage}%` : v.state);
const pollingOf = (v: DeploymentVersionReport) =>
  v.missingPollers.length === 0 ? 'yes' : `missing ${v.missingPollers.join(', ')}`;

function statusText(report: DeploymentReport): string {
  const rows = [
    ['BUILD', 'STATE', 'POLLING', 'CREATED'],
    ...report.versions.map((v) => [v.buildId, stateOf(v), pollingOf(v), v.createdAt ?? '']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = [
    `deployment ${report.deploymentName} in namespace ${report.namespace}: new runs go to ${report.current ?? 'unversioned workers'}` +
      (report.ramping ? `, ${report.ramping.percentage}% to ${report.ramping.buildId ?? 'unversioned workers'}` : ''),
    ...rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')),
  ];
  for (const v of report.versions) {
    if (v.state === 'drained') lines.push(`${v.buildId}: drained, no open run is pinned to it: its workers may stop`);
    else if (v.state === 'draining' && v.missingPollers.length > 0) {
      lines.push(`${v.buildId}: runs are pinned to it but its workers do not poll: those runs wait until they do`);
    }
  }
  return lines.join('\n');
}

export async function deploymentPromoteCommand(
  config: Config,
  opts: { buildId: string; timeout: number; json?: boolean },
): Promise<void> {
  const target = targetOf(config);
  const result = await withDeployments(config, async (ops, client): Promise<PromoteResult> => {
    const deadline = Date.now() + opts.timeout * 1000;
    let report: DeploymentReport | undefined;
    let version: DeploymentVersionReport | undefined;
    // Right after a deploy its workers may still be starting: wait for them to poll every queue.
    for (;;) {
      report = await ops.describeDeployment(client, target);
      version = report?.versions.find((v) => v.buildId === opts.buildId);
      if (report?.current === opts.buildId || version?.missingPollers.length === 0 || Date.now() >= deadline) break;
      await sleep(Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    }
    if (!report) throw noDeployment(target);
    if (report.current === opts.buildId)
      return {
        deploymentName: target.deploymentName,
        buildId: opts.buildId,
        outcome: 'already current',
        previous: opts.buildId,
      };
    if (!version) {
      const known = report.versions.map((v) => v.buildId).join(', ') || 'none';
      throw new CliError(
        `no worker of build ${opts.buildId} has polled deployment ${target.deploymentName} within ${opts.timeout} s ` +
          `(its builds: ${known}): is its service running, and is --build-id its TEMPORAL_WORKER_BUILD_ID?`,
        EXIT_BAD_CONFIG,
      );
    }
    if (version.missingPollers.length > 0) {
      throw new CliError(
        `build ${opts.buildId} has no worker polling ${version.missingPollers.join(', ')} after ${opts.timeout} s: ` +
          `nothing changed (new runs still go to ${report.current ?? 'unversioned workers'}); see its workers' logs`,
      );
    }
    try {
      await ops.setCurrentBuild(client, target, opts.buildId);
    } catch (err) {
      const refused = ops.refusal(err);
      if (refused) throw new CliError(`Temporal refused to make ${opts.buildId} current: ${refused}`);
      throw err;
    }
    return {
      deploymentName: target.deploymentName,
      buildId: opts.buildId,
      outcome: 'promoted',
      previous: report.current,
    };
  });
  console.log(
    opts.json
      ? JSON.stringify(result, null, 2)
      : result.outcome === 'promoted'
        ? `build ${result.buildId} is now current in deployment ${result.deploymentName}: new runs go to it (before: ${result.previous ?? 'unversioned workers'})`
        : `build ${result.buildId} is already current in deployment ${result.deploymentName}: nothing to do`,
  );
}
