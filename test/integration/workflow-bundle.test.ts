import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { checkoutWorkflowBundle } from '../../src/infrastructure/workflow-bundle';

// The checkout's workflow bundle, which `dev`, `demo` and the test run's workers reuse between
// starts: reused only while the key at its start matches the sources, remade when it does not.
const runBundle = inject('workflowBundlePath');
const keyOf = async (path: string) =>
  /^\/\* workflow sources [0-9a-f]{64} \*\//.exec(await readFile(path, 'utf8'))?.[0];
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lease-costs-bundle-'));
});
afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

describe.skipIf(!runBundle)('checkoutWorkflowBundle', () => {
  it('reuses the bundle at its path while its key matches the sources', async () => {
    const path = join(dir, 'reused.js');
    const onDisk = `${(await keyOf(runBundle!))!}\n// the bundle on disk\n`;
    await writeFile(path, onDisk);
    expect(await checkoutWorkflowBundle(path)).toEqual({ codePath: path });
    expect(await readFile(path, 'utf8')).toBe(onDisk);
  });

  it('remakes a bundle whose key is stale, with the new key at its start', async () => {
    const path = join(dir, 'stale.js');
    await writeFile(path, `/* workflow sources ${'0'.repeat(64)} */\n// a bundle of other sources\n`);
    expect(await checkoutWorkflowBundle(path)).toEqual({ codePath: path });
    expect(await readFile(path, 'utf8')).toContain('leaseCostsWorkflow');
    expect(await keyOf(path)).toBe(await keyOf(runBundle!));
    expect(await keyOf(path)).toBeDefined();
  });
});
