import type { SupportCommands } from '../src/interfaces/support-commands';

/** The CLI's `dev` and `demo`, loaded by the CLI only in a checkout (see src/interfaces/support-commands.ts). */
export const supportCommands: SupportCommands = {
  dev: async (opts) => (await import('./dev')).devCommand(opts),
  demo: async (opts) => (await import('./demo')).demoCommand(opts),
};
