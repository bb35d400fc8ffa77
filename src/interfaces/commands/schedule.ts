import type { Config } from '../../infrastructure/config';
import { installReconcileSchedule } from '../../infrastructure/schedule';
import { connect } from './operate';

/** `lease-costs schedule install [--trigger]`: idempotent; prints what the schedule does. */
export async function scheduleInstallCommand(config: Config, opts: { trigger?: boolean; json?: boolean }): Promise<void> {
  const client = await connect(config);
  try {
    const result = await installReconcileSchedule(client, config, opts);
    console.log(opts.json
      ? JSON.stringify({ ...result, triggered: Boolean(opts.trigger) }, null, 2)
      : `schedule ${result.scheduleId} ${result.outcome}: ${result.description}${opts.trigger ? '\ntriggered one run now' : ''}`);
  } finally {
    await client.connection.close();
  }
}
