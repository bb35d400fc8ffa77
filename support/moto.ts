import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, isPortFree } from './ports';
import { spawnManaged, toolPath, type StdioMode } from './tools';

export interface MotoServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  port: number;
  stop(): Promise<void>;
  process: ChildProcess;
}

export interface MotoOptions {
  /** A free one when omitted. */
  port?: number;
  /** Server output: `ignore` (default), `inherit` or `pipe`. */
  stdio?: StdioMode;
  readyTimeoutMs?: number;
}

/** Starts moto's server mode (every AWS service on one endpoint) and resolves once it answers HTTP. */
export async function startMoto(opts: MotoOptions = {}): Promise<MotoServer> {
  // Ports we picked can be grabbed by another process before moto binds them: pick again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      const lost = err instanceof Error && /already in use/i.test(err.message);
      if (opts.port !== undefined || !lost || attempt >= 3) throw err;
    }
  }
}

async function startOnce(opts: MotoOptions): Promise<MotoServer> {
  const port = opts.port ?? (await freePort());
  // Otherwise the readiness probe could be answered by whatever already listens there.
  if (!(await isPortFree(port))) throw new Error(`cannot start moto_server: 127.0.0.1:${port} is already in use`);
  const managed = spawnManaged(toolPath('moto_server'), ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: opts.stdio,
    // Unbuffered, so an early crash still leaves its traceback in the output tail.
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let lastError = 'not contacted yet';

  try {
    for (;;) {
      if (managed.hasExited()) {
        throw new Error(`moto_server exited early:\n${managed.outputTail()}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `moto_server at ${endpoint} not ready after ${timeoutMs} ms (last: ${lastError}). Output:\n${managed.outputTail()}`,
        );
      }
      try {
        const res = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200 || res.status === 404) break;
        lastError = `HTTP ${res.status}`;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
      }
      await Promise.race([sleep(150), managed.exited]);
    }
  } catch (err) {
    await managed.stop(2_000);
    throw err;
  }

  if (managed.hasExited()) throw new Error(`moto_server exited right after start:\n${managed.outputTail()}`);
  return { endpoint, port, stop: () => managed.stop(), process: managed.process };
}
