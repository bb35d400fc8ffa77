import { execFile } from 'node:child_process';
import { chown, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../support/ports';

const run = promisify(execFile);

export interface RealPostgres {
  url: string;
  version: string;
  stop(): Promise<void>;
}

/** Debian's server binaries (scripts/setup-debian.sh installs them), newest major first. */
async function binDir(): Promise<string | undefined> {
  const majors = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  const newest = majors.filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a))[0];
  return newest ? join('/usr/lib/postgresql', newest, 'bin') : undefined;
}

/**
 * A throwaway PostgreSQL cluster: a temporary data directory, a free loopback port, trust
 * authentication, no fsync. PostgreSQL refuses to run as root, so as root it runs as Debian's
 * `postgres` user. Returns the reason instead when it cannot run here, for the test to skip loudly.
 */
export async function startRealPostgres(): Promise<RealPostgres | { skip: string }> {
  const bin = await binDir();
  if (!bin)
    return { skip: "no /usr/lib/postgresql/*/bin (scripts/setup-debian.sh installs Debian's postgresql as root)" };
  const asRoot = process.getuid?.() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const id = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]).catch(() => undefined);
    if (!id) return { skip: 'running as root and there is no postgres user to run the server as' };
    owner = { uid: Number(id[0].stdout), gid: Number(id[1].stdout) };
  }
  const dir = await mkdtemp(join(tmpdir(), 'lease-costs-pg-'));
  if (owner) await chown(dir, owner.uid, owner.gid);
  const data = join(dir, 'data');
  const as = (cmd: string, args: string[]) =>
    owner ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  const port = await freePort();
  try {
    await as('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    await as('pg_ctl', [
      'start',
      '-w',
      '-t',
      '30',
      '-D',
      data,
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`,
    ]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const { stdout } = await run(join(bin, 'postgres'), ['--version']);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    version: stdout.trim(),
    async stop() {
      await as('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', data]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
