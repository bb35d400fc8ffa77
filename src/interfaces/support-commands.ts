import { existsSync } from 'node:fs';
import { CliError, EXIT_BAD_CONFIG } from './cli-error';

/** What `support/cli.ts` provides: the commands that run the support tree, not the shipped one. */
export interface SupportCommands {
  dev(opts: { port: number; uiPort: number; dbFile?: string; ledgerDir?: string }): Promise<void>;
  demo(opts: { port: number; uiPort: number; exit?: boolean; keepRunning?: boolean }): Promise<void>;
}

/**
 * `dev` and `demo` run the Temporal dev server, the stand-ins for AWS and the ISB API and the
 * embedded ledger: support/, with the dev dependencies. The path is computed, so the production
 * build neither bundles support/ nor needs it; there, these two commands say what they need.
 */
export async function supportCommand<C extends keyof SupportCommands>(command: C): Promise<SupportCommands[C]> {
  const entry = new URL('../../support/cli.ts', import.meta.url);
  const needs = `\`lease-costs ${command}\` runs from a checkout with its dev dependencies (git clone, then npm ci); this build ships without them`;
  if (!import.meta.url.endsWith('.ts') || !existsSync(entry)) throw new CliError(needs, EXIT_BAD_CONFIG);
  try {
    return ((await import(entry.href)) as { supportCommands: SupportCommands }).supportCommands[command];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND')
      throw new CliError(`${needs}: ${(err as Error).message}`, EXIT_BAD_CONFIG);
    throw err;
  }
}
