import { readdirSync, readFileSync } from 'node:fs';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { workflowBundlePath } from '../helpers/temporal';

// Histories recorded from real runs (RECORD_HISTORIES=1 npx vitest run test/integration/pipeline.test.ts).
// A workflow change that alters command order without patched() fails here.
const dir = new URL('../fixtures/histories/', import.meta.url);
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.binpb'));

describe('replay of recorded histories against the current workflow code', () => {
  it('has recorded histories to replay', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(3);
  });

  it.each(fixtures)('%s replays deterministically', async (file) => {
    const history = temporal.api.history.v1.History.decode(readFileSync(new URL(file, dir)));
    await expect(
      Worker.runReplayHistory({ workflowBundle: { codePath: workflowBundlePath() } }, history, file),
    ).resolves.toBeUndefined();
  });
});
