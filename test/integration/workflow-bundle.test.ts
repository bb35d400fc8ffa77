import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkoutWorkflowBundle } from '../../src/infrastructure/workflow-bundle';

// The checkout's workflow bundle, which `dev`, `demo` and the test run's workers reuse between
// starts: reused only while its key matches the sources, remade as soon as it does not.
const runBundle = inject('workflowBundlePath');
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lease-costs-bundle-'));
});
afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

describe.skipIf(!runBundle)('checkoutWorkflowBundle', () => {
  it('reuses the bundle at its path while its key matches the sources', async () => {
    const path = join(dir, 'reused.js');
    await writeFile(path, '// the bundle on disk\n');
    await copyFile(`${runBundle!}.key`, `${path}.key`);
    expect(await checkoutWorkflowBundle(path)).toEqual({ codePath: path });
    expect(await readFile(path, 'utf8')).toBe('// the bundle on disk\n');
  });

  it('remakes a bundle whose key is stale, and records the new key', async () => {
    const path = join(dir, 'stale.js');
    await writeFile(path, '// a bundle of other sources\n');
    await writeFile(`${path}.key`, 'stale');
    expect(await checkoutWorkflowBundle(path)).toEqual({ codePath: path });
    expect(await readFile(path, 'utf8')).toContain('leaseCostsWorkflow');
    expect(await readFile(`${path}.key`, 'utf8')).toBe(await readFile(`${runBundle!}.key`, 'utf8'));
  });
});
