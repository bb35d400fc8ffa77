import { Client, Connection } from '@temporalio/client';
import { dataConverterFor } from '../../infrastructure/codec';
import type { Config } from '../../infrastructure/config';
import { createLogger } from '../../infrastructure/logging';
import { temporalConnectionOptions } from '../../infrastructure/temporal-connection';
import { CliError } from '../cli-error';
import { untilSignal } from '../signals';
import { startIntake, toLogger } from '../sqs-intake';

/** `lease-costs intake --queue-url <url>`: poll until SIGINT/SIGTERM, finish the messages in hand, exit. */
export async function intakeCommand(config: Config, queueUrl: string): Promise<void> {
  // Lazy: the intake comes up while Temporal is down and leaves messages queued until it returns.
  const connection = Connection.lazy({ ...temporalConnectionOptions(config), connectTimeout: '3 seconds' });
  const client = new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFor(config),
  });
  const log = toLogger(createLogger(config));
  const intake = startIntake({ config, client, queueUrl, log });
  log({ level: 'info', msg: 'intake polling', queueUrl });
  try {
    const signal = await Promise.race([untilSignal(), intake.done.then(() => undefined)]);
    log({ level: 'info', msg: 'shutting down', ...(signal ? { signal } : {}) });
    await intake.stop();
  } catch (err) {
    throw new CliError(`cannot receive from ${queueUrl}: ${(err as Error).name}: ${(err as Error).message}`, 2);
  } finally {
    await connection.close();
  }
}
