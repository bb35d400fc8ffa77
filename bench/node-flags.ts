import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../support/tools';

/** The node flags of the image's entrypoint (Dockerfile): children that stand for the worker run with exactly these. */
export function workerNodeFlags(): string[] {
  const entrypoint = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /^ENTRYPOINT\s/i.test(l))
    .at(-1);
  if (!entrypoint) throw new Error('Dockerfile has no ENTRYPOINT');
  const [, ...args] = JSON.parse(entrypoint.slice('ENTRYPOINT'.length)) as string[];
  return args.filter((a) => a.startsWith('--'));
}
