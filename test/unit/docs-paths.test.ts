import { existsSync, globSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every file the docs name must exist: a renamed or deleted file otherwise leaves them quietly wrong.
const root = join(import.meta.dirname, '..', '..');
const pages = [
  'README.md',
  'RELIABILITY.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const topDirs = [
  'src',
  'workflows',
  'activities',
  'bin',
  'infra',
  'test',
  'bench',
  'scripts',
  'support',
  'docs',
  'deploy',
  '.ci',
];
const pathLike = new RegExp(`^(?:${topDirs.map((d) => d.replace('.', '\\.')).join('|')})/[A-Za-z0-9_.*/-]+$`);

function namedPaths(page: string): { path: string; from: string }[] {
  const text = readFileSync(join(root, page), 'utf8');
  const dir = page.includes('/') ? page.slice(0, page.lastIndexOf('/')) : '';
  const found: { path: string; from: string }[] = [];
  for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
    found.push({ path: join(dir, target!.split('#')[0]!), from: target! });
  }
  for (const [, code] of text.matchAll(/`([^`\s]+)`/g)) {
    const candidate = code!.replace(/:\d+(-\d+)?$/, '').replace(/\/$/, '');
    if (pathLike.test(candidate)) found.push({ path: candidate, from: code! });
  }
  return found;
}

describe('docs name only files that exist', () => {
  it.each(pages)('%s', (page) => {
    const missing = namedPaths(page)
      .filter(({ path }) =>
        path.includes('*') ? globSync(path, { cwd: root }).length === 0 : !existsSync(join(root, path)),
      )
      .map(({ from }) => from);
    expect(missing).toEqual([]);
  });
});
