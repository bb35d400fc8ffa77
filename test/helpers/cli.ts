import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

/** The checkout's CLI (through tsx): only `dev` and `demo`, which need the checkout's support code. */
export const SOURCE_BIN = fileURLToPath(new URL('../../bin/lease-costs.mjs', import.meta.url));
const NEEDS_CHECKOUT = new Set(['dev', 'demo']);

/** The CLI built as the image ships it (global setup), for every command but `dev` and `demo`. */
export const builtBin = (): string => inject('cliBin');

/**
 * For a process that runs a worker from the built CLI, which has no sources to bundle: the run's
 * one workflow bundle (global setup; a checkout's worker finds the same file on its own).
 */
export const workflowBundleEnv = (): Record<string, string> => {
  const path = inject('workflowBundlePath');
  return path ? { LEASE_COSTS_WORKFLOW_BUNDLE: path } : {};
};

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** ms from start to the first stdout bytes (the answer), and to the exit. */
  timing: { answerMs?: number; exitMs: number };
}

/** Runs the real CLI in a child process, as an operator would; `bin` and `cwd` for another install of it. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { bin?: string; cwd?: string } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let answeredAt: number | undefined;
    const bin = opts.bin ?? (NEEDS_CHECKOUT.has(args[0] ?? '') ? SOURCE_BIN : builtBin());
    const child = execFile(
      process.execPath,
      [bin, ...args],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          ...env,
        },
        cwd: opts.cwd,
        timeout: 60_000,
      },
      (err, stdout, stderr) => {
        const timing = { answerMs: answeredAt === undefined ? undefined : answeredAt - t0, exitMs: Date.now() - t0 };
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, timing });
      },
    );
    child.stdout?.once('data', () => {
      answeredAt = Date.now();
    });
  });
}
