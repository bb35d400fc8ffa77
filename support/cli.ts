import type { SupportCommands } from '../src/interfaces/cli';

/** The CLI's `dev` and `demo`, loaded by the CLI only in a checkout (see supportCommands there). */
export const supportCommands: SupportCommands = {
  dev: async (opts) => (await import('./dev')).devCommand(opts),
  demo: async (opts) => (await import('./demo')).demoCommand(opts),
};
