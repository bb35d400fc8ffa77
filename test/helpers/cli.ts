import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../bin/lease-costs.mjs', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** ms from start to the first stdout bytes (the answer), and to the exit. */
  timing: { answerMs?: number; exitMs: number };
}

/** Runs the real CLI in a child process, as an operator would; `bin` and `cwd` for another install of it. */
export function runCli(args: string[], env: Record<string, string>, opts: { bin?: string; cwd?: string } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let answeredAt: number | undefined;
    const child = execFile(process.execPath, [opts.bin ?? BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      cwd: opts.cwd,
      timeout: 60_000,
    }, (err, stdout, stderr) => {
      const timing = { answerMs: answeredAt === undefined ? undefined : answeredAt - t0, exitMs: Date.now() - t0 };
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr, timing });
    });
    child.stdout?.once('data', () => { answeredAt = Date.now(); });
  });
}
