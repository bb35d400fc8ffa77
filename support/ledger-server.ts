import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketHandler } from '@electric-sql/pglite-socket';
import { CliError, EXIT_BAD_CONFIG } from '../src/interfaces/cli-error';

// The embedded ledger of `dev`, `demo` and the tests: PGlite (PostgreSQL in WebAssembly, one
// session, one process) served over the PostgreSQL wire protocol on a loopback port, so the worker,
// the CLI in a second terminal and the tests all connect to it with DATABASE_URL, as to a real server.

const QUERY = 0x51; // 'Q': a simple query, answered up to ReadyForQuery
const SYNC = 0x53; // 'S': the end of an extended-protocol cycle (Parse/Bind/Execute…)
const TERMINATE = 0x58; // 'X'

/**
 * Gives the single PGlite session to one client at a time, for a whole protocol cycle and a whole
 * transaction. pglite-socket's own multiplexer queues clients message by message (keeping only
 * open transactions together), so in principle client B's Parse could land between client A's
 * Parse and Bind, both using the unnamed statement. A probe of 400 mixed concurrent queries did
 * not make that happen, but here it cannot happen by construction: a client keeps the session
 * from its first message until a Sync or simple Query leaves no transaction open.
 */
class SessionTurns {
  private owner: number | undefined;
  private readonly waiting: { id: number; go: () => void; fail: (err: Error) => void }[] = [];

  constructor(private readonly db: PGlite) {}

  async enqueue(id: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    if (this.owner !== undefined && this.owner !== id) {
      await new Promise<void>((go, fail) => this.waiting.push({ id, go, fail }));
    }
    this.owner = id;
    let bytes = 0;
    try {
      await this.db.runExclusive(() =>
        this.db.execProtocolRawStream(message, {
          onRawData: (d) => {
            bytes += d.length;
            onData(d);
          },
        }),
      );
    } finally {
      // A startup message begins with its length, whose first byte is 0.
      const type = message[0];
      if ((type === SYNC || type === QUERY || type === TERMINATE || type === 0) && !this.db.isInTransaction())
        this.release(id);
    }
    return bytes;
  }

  private release(id: number) {
    if (this.owner !== id) return;
    this.owner = undefined;
    const next = this.waiting.shift();
    if (next) {
      this.owner = next.id;
      next.go();
    }
  }

  clearQueueForHandler(id: number) {
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      if (this.waiting[i]!.id === id) this.waiting.splice(i, 1)[0]!.fail(new Error('client disconnected'));
    }
  }

  /** A client gone mid-transaction: roll it back so the next one starts clean. */
  async clearTransactionIfNeeded(id: number) {
    if (this.owner !== id) return;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    this.release(id);
  }
}

export interface EmbeddedLedger {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: DATABASE_URL for every process that uses the ledger. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts PGlite on `dataDir` (in memory when undefined) and serves it on a free loopback port.
 * A directory is opened by one process at a time (PGlite has no lock of its own): a second
 * `dev` on the same directory is refused with the first one's pid.
 */
export async function startEmbeddedLedger(opts: { dataDir?: string; host?: string } = {}): Promise<EmbeddedLedger> {
  const unlock = opts.dataDir ? await lockDirectory(opts.dataDir) : async () => {};
  let db: PGlite | undefined;
  try {
    db = await PGlite.create(opts.dataDir ? { dataDir: opts.dataDir } : {});
  } catch (err) {
    await unlock();
    throw err;
  }
  const pglite = db;
  const turns = new SessionTurns(pglite);
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // The handler's type names pglite-socket's queue class; SessionTurns has the same methods.
    const handler = new PGLiteSocketHandler({ queryQueue: turns as never, closeOnDetach: true });
    handler.attach(socket).catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `postgres://postgres@${address}:${port}/postgres?sslmode=disable`,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
      await pglite.close();
      await unlock();
    },
  };
}

/** `<dataDir>.lock` holds the pid of the process that has the directory open. */
async function lockDirectory(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = `${dataDir.replace(/\/+$/, '')}.lock`;
  await mkdir(dirname(lockPath), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const file = await open(lockPath, 'wx');
      await file.writeFile(String(process.pid));
      await file.close();
      return () => rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await readFile(lockPath, 'utf8').catch(() => ''));
      if (pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new CliError(
          `the embedded ledger ${dataDir} is in use by process ${pid} (another lease-costs dev or demo?): stop it, or set DATABASE_URL`,
          EXIT_BAD_CONFIG,
        );
      }
      // Left behind by a process that died: take it over.
      await rm(lockPath, { force: true });
    }
  }
  throw new CliError(`cannot lock the embedded ledger ${dataDir}`, EXIT_BAD_CONFIG);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
