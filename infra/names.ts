import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Names the two stacks agree on. They live in different accounts, so neither can read the other's
 * outputs: the hub's worker role and the management account's reader role have fixed names.
 */
export const WORKER_ROLE_NAME = 'lease-costs-worker';
export const COST_READER_ROLE_NAME = 'lease-costs-cost-explorer-reader';

/** The two Cost Explorer reads the product makes, and nothing else. */
export const COST_EXPLORER_ACTIONS = ['ce:GetCostAndUsage', 'ce:GetCostAndUsageWithResources'];

export const MANAGEMENT_STACK_NAME = 'LeaseCostsManagement';
export const HUB_STACK_NAME = 'LeaseCostsHub';

/** The repository root: the Docker build context of the service image. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
