import { supportCommand, type SupportCommands } from '../support-commands';

/** `lease-costs dev`: support/dev.ts, which runs from a checkout only. */
export async function devCommand(opts: Parameters<SupportCommands['dev']>[0]): Promise<void> {
  await (
    await supportCommand('dev')
  )(opts);
}
