import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { DEFAULT_WORKER_BUILDS, parseWorkerBuilds } from './hub/builds';
import { HubStack } from './hub/stack';
import { INTAKE_MODES, type IntakeMode } from './hub/intake';
import { ManagementStack } from './management-stack';
import { HUB_STACK_NAME, MANAGEMENT_STACK_NAME } from './names';

/**
 * Both stacks of lease-costs. Context: `intake` = api-destination (default) | sqs;
 * `temporalApiKey` = true (default) | false; `workerBuilds` = a JSON array of the worker builds to
 * run, oldest first (default: this checkout, its build id the image tag). Stacks are environment-agnostic (no lookups):
 * the account and region are the ones `cdk deploy` runs with.
 */
export function buildApp(app: App): { management: ManagementStack; hub: HubStack } {
  const intake = (app.node.tryGetContext('intake') ?? 'api-destination') as IntakeMode;
  if (!INTAKE_MODES.includes(intake))
    throw new Error(`context intake must be one of ${INTAKE_MODES.join(', ')}, not ${intake}`);
  const temporalApiKey = String(app.node.tryGetContext('temporalApiKey') ?? 'true') !== 'false';
  const builds = app.node.tryGetContext('workerBuilds') as unknown;
  const workerBuilds = builds === undefined ? DEFAULT_WORKER_BUILDS : parseWorkerBuilds(builds);
  return {
    management: new ManagementStack(app, MANAGEMENT_STACK_NAME),
    hub: new HubStack(app, HUB_STACK_NAME, { intake, temporalApiKey, workerBuilds }),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const app = new App();
  buildApp(app);
  // Synthesis fails on any unacknowledged AwsSolutions error.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}
