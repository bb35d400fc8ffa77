import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ToolName = 'temporal' | 'temporal-test-server' | 'moto_server' | 'cfn-lint';

/** Repository root: this file lives in `<root>/support`. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Absolute path of a tool installed by `scripts/setup-tools.sh`; throws when it is missing. */
export function toolPath(name: ToolName): string {
  const path = join(repoRoot, '.tools', 'venv', 'bin', name);
  if (!existsSync(path)) {
    throw new Error(`${name} not installed (looked for ${path}): run \`npm run setup:tools\``);
  }
  return path;
}

export type StdioMode = 'inherit' | 'ignore' | 'pipe';

export interface ManagedProcess {
  process: ChildProcess;
  /**
   * The last few KiB of stdout+stderr for error messages, after the first 2 KiB when more was
   * written: a Go panic says what went wrong above its goroutine dump.
   */
  outputTail(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_BYTES = 8192;
const HEAD_BYTES = 2048;
// $1 = process group. dash's kill needs `-s SIG --` before a negative pid.
const WATCHDOG = [
  'trap "" INT HUP',
  'read -r _',
  'kill -s TERM -- -"$1" 2>/dev/null || exit 0',
  'i=0; while [ $i -lt 20 ] && kill -s 0 -- -"$1" 2>/dev/null; do sleep 0.5; i=$((i+1)); done',
  'kill -s KILL -- -"$1" 2>/dev/null',
].join('; ');
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    // Detached children lead their own process group: signal the whole group.
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: send SIGTERM and let the watchdog escalate.
  process.on('exit', () => {
    for (const m of live) signalGroup(m.process, 'SIGTERM');
  });
}

/**
 * Spawns a long-running tool in its own process group (so a terminal Ctrl-C reaches only us and we
 * decide the shutdown order), plus a tiny `sh` watchdog that kills it when our process dies, even
 * by SIGKILL: the watchdog blocks reading a pipe from us, which closes when we die.
 */
export function spawnManaged(
  command: string,
  args: string[],
  opts: {
    stdio?: StdioMode;
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    /** Also copy stdout and stderr here (a log file). */ output?: NodeJS.WritableStream;
  } = {},
): ManagedProcess {
  const stdio = opts.stdio ?? 'ignore';
  const child = spawn(command, args, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });

  let head = '';
  let tail = '';
  let written = 0;
  const collect = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    if (head.length < HEAD_BYTES) head += text.slice(0, HEAD_BYTES - head.length);
    written += text.length;
    tail = (tail + text).slice(-TAIL_BYTES);
  };
  // The tail starts `written - TAIL_BYTES` in; what of it the head already holds is left out.
  const output = () => {
    if (written <= TAIL_BYTES) return tail;
    const overlap = HEAD_BYTES - (written - TAIL_BYTES);
    return overlap > 0 ? head + tail.slice(overlap) : `${head}\n[…]\n${tail}`;
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  if (opts.output) {
    child.stdout?.pipe(opts.output, { end: false });
    child.stderr?.pipe(opts.output, { end: false });
  }
  if (stdio === 'inherit') {
    child.stdout?.pipe(process.stdout, { end: false });
    child.stderr?.pipe(process.stderr, { end: false });
  }

  let exitValue: number | string | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      // Spawn failures (ENOENT, EACCES) emit 'error' and may never emit 'exit'.
      spawnError = err;
      if (child.pid === undefined) {
        exitValue = `spawn error: ${err.message}`;
        resolve(exitValue);
      }
    });
    child.once('exit', (code, signal) => {
      exitValue = code ?? signal ?? 'unknown';
      resolve(exitValue);
    });
  });

  let watchdog: ChildProcess | undefined;
  if (child.pid !== undefined) {
    watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'watchdog', String(child.pid)], {
      detached: true,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    watchdog.on('error', () => {});
    watchdog.unref();
    (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }

  let stopping: Promise<void> | undefined;
  const managed: ManagedProcess = {
    process: child,
    outputTail: () => (spawnError ? `${spawnError.message}\n${output()}` : output()).trimEnd(),
    exited,
    hasExited: () => exitValue !== undefined,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (exitValue === undefined) {
          signalGroup(child, 'SIGTERM');
          const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
          await exited;
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };

  live.add(managed);
  installExitHook();
  void exited.then(() => {
    live.delete(managed);
    if (watchdog && watchdog.exitCode === null && watchdog.signalCode === null) watchdog.kill('SIGKILL');
  });
  return managed;
}
