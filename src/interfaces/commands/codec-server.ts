import type { Config } from '../../infrastructure/config';
import { createLogger } from '../../infrastructure/logging';
import { runCodecServer } from '../codec-endpoint';
import { untilSignal } from '../signals';

/** `lease-costs codec-server`: serve until SIGINT/SIGTERM. */
export async function codecServerCommand(config: Config): Promise<void> {
  const logger = createLogger(config);
  const codec = await runCodecServer(config, logger);
  logger.info({ url: codec.url }, 'codec endpoint listening');
  const signal = await untilSignal();
  logger.info({ signal }, 'shutting down');
  await codec.close();
}
