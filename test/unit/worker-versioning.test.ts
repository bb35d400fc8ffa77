import { describe, expect, it } from 'vitest';
import type { VersioningBehavior } from '@temporalio/common';
import { loadConfig } from '../../src/infrastructure/config';
import { workerDeploymentOptionsFor } from '../../src/interfaces/worker-composition';
import * as workflows from '../../workflows';
import type { VersioningBehaviorGetter } from '../../workflows/versioning';

const workerEnv = {
  COST_EXPLORER_ROLE_ARN: 'arn:aws:iam::123456789012:role/IsbCostExplorerReader',
  S3_BUCKET_NAME: 'lease-costs-reports',
  EVENT_BUS_NAME: 'isb-events',
  ISB_API_BASE_URL: 'https://isb.example.com/api',
  ISB_JWT_SECRET_PATH: 'isb/jwt',
  LEDGER_ENABLED: 'false',
};

describe('Worker Versioning settings', () => {
  it('is off without a build id, so dev, demo and the tests run unversioned', () => {
    const config = loadConfig(workerEnv, ['worker']);
    expect(config.TEMPORAL_DEPLOYMENT_NAME).toBe('lease-costs');
    expect(config.TEMPORAL_WORKER_BUILD_ID).toBeUndefined();
    expect(workerDeploymentOptionsFor(config)).toEqual({});
  });

  it('with a build id, polls as that version of the deployment', () => {
    const config = loadConfig(
      { ...workerEnv, TEMPORAL_DEPLOYMENT_NAME: 'lease-costs-prod', TEMPORAL_WORKER_BUILD_ID: '0.1.0-3f9c2ab' },
      ['worker'],
    );
    expect(workerDeploymentOptionsFor(config)).toEqual({
      workerDeploymentOptions: {
        version: { deploymentName: 'lease-costs-prod', buildId: '0.1.0-3f9c2ab' },
        useWorkerVersioning: true,
        defaultVersioningBehavior: 'AUTO_UPGRADE',
      },
    });
  });

  it('refuses names the server would split or choke on, naming the variable', () => {
    for (const [variable, value] of [
      ['TEMPORAL_DEPLOYMENT_NAME', 'lease.costs'],
      ['TEMPORAL_DEPLOYMENT_NAME', 'lease:costs'],
      ['TEMPORAL_DEPLOYMENT_NAME', ''],
      ['TEMPORAL_WORKER_BUILD_ID', 'a:b'],
      ['TEMPORAL_WORKER_BUILD_ID', '-x'],
      ['TEMPORAL_WORKER_BUILD_ID', 'x'.repeat(101)],
    ] as const) {
      expect(() => loadConfig({ ...workerEnv, [variable]: value }, ['worker']), `${variable}=${value}`).toThrow(
        variable,
      );
    }
  });
});

describe('workflow versioning behaviors', () => {
  // The lease and its child stay on the build that started them; the pacer never ends, so it follows
  // the current build; reconcile runs are short. docs/upgrade.md explains each choice.
  const expected: Record<string, VersioningBehavior> = {
    leaseCostsWorkflow: 'PINNED',
    collectCostsWorkflow: 'PINNED',
    reconcileLeasesWorkflow: 'PINNED',
    costExplorerPacerWorkflow: 'AUTO_UPGRADE',
  };

  it('every workflow type declares its own', () => {
    const declared = Object.fromEntries(
      Object.entries(workflows)
        .filter(([name, value]) => typeof value === 'function' && name.endsWith('Workflow'))
        .map(([name, fn]) => [
          name,
          (fn as { workflowDefinitionOptions?: Partial<VersioningBehaviorGetter> }).workflowDefinitionOptions?.declared,
        ]),
    );
    expect(declared).toEqual(expected);
  });
});
