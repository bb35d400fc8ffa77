import type { Config } from '../../infrastructure/config';
import { installMonthlySchedule, installReconcileSchedule } from '../../infrastructure/schedule-install';
import { connect } from '../lease-status';

/** `lease-costs schedule install [--trigger]`: both schedules, idempotently; prints what each does. */
export async function scheduleInstallCommand(
  config: Config,
  opts: { trigger?: boolean; json?: boolean },
): Promise<void> {
  const client = await connect(config);
  try {
    const result = await installReconcileSchedule(client, config, opts);
    const monthly = await installMonthlySchedule(client, config);
    console.log(
      opts.json
        ? JSON.stringify({ ...result, triggered: Boolean(opts.trigger), monthly }, null, 2)
        : `schedule ${result.scheduleId} ${result.outcome}: ${result.description}${opts.trigger ? '\ntriggered one run now' : ''}\n` +
            `schedule ${monthly.scheduleId} ${monthly.outcome}: ${monthly.description}`,
    );
  } finally {
    await client.connection.close();
  }
}
