import type { Config } from '../../infrastructure/config';
import { createLogger } from '../../infrastructure/logging';
import { untilSignal } from '../signals';
import { runWebhook, WEBHOOK_PATH } from '../webhook-server';

/** `lease-costs webhook`: serve until SIGINT/SIGTERM, then finish in-flight requests and exit. */
export async function webhookCommand(config: Config): Promise<void> {
  const logger = createLogger(config);
  const webhook = await runWebhook(config, logger);
  logger.info({ url: `${webhook.address}${WEBHOOK_PATH}`, metrics: `${webhook.address}/metrics` }, 'webhook listening');
  const signal = await untilSignal();
  logger.info({ signal }, 'shutting down');
  await webhook.close();
}
