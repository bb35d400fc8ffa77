import { supportCommand, type SupportCommands } from '../support-commands';

/** `lease-costs demo`: support/demo.ts, which runs from a checkout only. */
export async function demoCommand(opts: Parameters<SupportCommands['demo']>[0]): Promise<void> {
  await (
    await supportCommand('demo')
  )(opts);
}
