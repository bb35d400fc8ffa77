// The machine a run measured: printed first and stored with the results.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { repoRoot } from '../support/tools';
import { printTable, round } from './format';
import type { Options } from './options';

function git(args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

export function machineInfo() {
  const cpus = os.cpus();
  const dirty = git(['status', '--porcelain', '--untracked-files=no']);
  return {
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    node: process.version,
    commit: git(['rev-parse', '--short', 'HEAD']) ?? 'unknown',
    /** Tracked files with uncommitted changes when the run started: the code measured is HEAD plus those. */
    uncommittedFiles: dirty === undefined ? undefined : dirty.split('\n').filter(Boolean).length,
    loadAverageAtStart: os.loadavg().map((l) => round(l)),
  };
}

export type Machine = ReturnType<typeof machineInfo>;

export function printMachine(machine: Machine, opts: Options): void {
  printTable(
    'Machine',
    ['', ''],
    [
      ['os', machine.os],
      ['cpu', `${machine.cpuCount} x ${machine.cpuModel}`],
      ['memory (GiB)', round(machine.totalMemoryBytes / 1024 ** 3, 1)],
      ['node', machine.node],
      [
        'commit',
        `${machine.commit}${machine.uncommittedFiles ? ` + ${machine.uncommittedFiles} uncommitted files` : ''}`,
      ],
      ['load average at start', machine.loadAverageAtStart.join(' ')],
      ['sections', [...opts.only].join(', ') + (opts.quick ? ' (quick sizes)' : '')],
    ],
  );
}
