import { workflowInfo } from '@temporalio/workflow';
import type { VersioningBehavior, WorkflowDefinitionOptions } from '@temporalio/common';

/** A workflow type's Worker Versioning behavior, readable outside a workflow (the unit test checks each type's). */
export type VersioningBehaviorGetter = (() => WorkflowDefinitionOptions) & { declared: VersioningBehavior };

/**
 * For setWorkflowOptions: the behavior, reported only by a versioned worker. sdk-core refuses any
 * behavior from an unversioned one ("versioning behavior cannot be specified without deployment
 * options being set with versioned mode"), which `dev`, `demo` and the tests run. The getter runs
 * once per run as a worker loads it; a run whose first task ran unversioned (started before
 * versioning was turned on) declares none and takes the worker's default (AUTO_UPGRADE: how
 * unversioned runs behave anyway).
 */
export function versioningBehavior(declared: VersioningBehavior): VersioningBehaviorGetter {
  // An unversioned worker reports a build id too, but no deployment name.
  return Object.assign(
    () => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: declared } : {}),
    { declared },
  );
}
