import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const checkoutRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Where a checkout keeps the bundle of its workflow code between starts (gitignored, beside dev's data). */
export const CHECKOUT_BUNDLE_PATH = join(checkoutRoot, '.data', 'workflow-bundle.js');

/**
 * What the bundle starts with: the key of the sources it was made from, on the first line of code,
 * so that its source map's lines still match.
 */
const keyComment = (key: string) => `/* workflow sources ${key} */`;

/**
 * The bundle of this checkout's workflow code (`workflows/index.ts`), made with webpack when no
 * bundle of the same sources is at `path`, and kept there for the next start: webpack costs
 * seconds of CPU, which `dev`, `demo` and every test run's workers would otherwise spend at each
 * start. The key, at the bundle's start, is a hash of every file the workflow code can import
 * and of the lock file; one file renamed into place keeps bundle and key together when processes
 * start side by side. A directory it cannot write only means no reuse: the code stays in memory.
 */
export async function checkoutWorkflowBundle(
  path = CHECKOUT_BUNDLE_PATH,
): Promise<{ codePath: string } | { code: string }> {
  const head = keyComment(await bundleInputsHash());
  if ((await firstBytes(path, head.length)) === head) return { codePath: path };
  // Loaded only when there is something to bundle.
  const { bundleWorkflowCode, DefaultLogger } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(checkoutRoot, 'workflows', 'index.ts'),
    logger: new DefaultLogger('WARN'),
  });
  try {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, head + code);
    await rename(tmp, path);
    return { codePath: path };
  } catch {
    return { code };
  }
}

async function firstBytes(path: string, n: number): Promise<string | undefined> {
  const file = await open(path).catch(() => undefined);
  if (!file) return undefined;
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(n), 0, n, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await file.close();
  }
}

/** Everything workflow code can import from this checkout, plus the lock file for dependency changes. */
async function bundleInputsHash(): Promise<string> {
  const hash = createHash('sha256');
  const files: string[] = [join(checkoutRoot, 'package-lock.json')];
  for (const dir of ['workflows', 'src', 'activities']) {
    const abs = join(checkoutRoot, dir);
    if (!existsSync(abs)) continue;
    const entries = await readdir(abs, { recursive: true, withFileTypes: true });
    for (const e of entries) {
      if (e.isFile() && /\.(ts|mts|cts|js|mjs|cjs|json)$/.test(e.name)) files.push(join(e.parentPath, e.name));
    }
  }
  for (const file of files.sort()) {
    hash.update(relative(checkoutRoot, file)).update('\0');
    hash.update(existsSync(file) ? await readFile(file) : '').update('\0');
  }
  return hash.digest('hex');
}
