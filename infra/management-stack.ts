import { CfnOutput, CfnParameter, Stack, type StackProps } from 'aws-cdk-lib';
import { ArnPrincipal, PolicyDocument, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { acknowledge } from './nag';
import { COST_EXPLORER_ACTIONS, COST_READER_ROLE_NAME, WORKER_ROLE_NAME } from './names';

/**
 * Deployed in the organisation's management (payer) account, where Cost Explorer sees every
 * linked account: one role, allowed only the two Cost Explorer reads, that only the hub's worker
 * role may assume, and only with the external id.
 */
export class ManagementStack extends Stack {
  readonly readerRole: Role;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, { description: 'lease-costs: the Cost Explorer reading role the hub worker assumes', ...props });
    const hubAccountId = new CfnParameter(this, 'HubAccountId', {
      description: 'Account id of the hub account, where the lease-costs worker runs',
      allowedPattern: '^\\d{12}$',
      constraintDescription: 'a 12-digit AWS account id',
    });
    const externalId = new CfnParameter(this, 'ExternalId', {
      description: "External id the worker sends when assuming the role (the hub stack's CostExplorerExternalId)",
      allowedPattern: '^[\\w+=,.@:/-]{16,1224}$',
      constraintDescription: '16 to 1224 characters of letters, digits and +=,.@:/-',
      noEcho: true,
    });

    const workerRoleArn = `arn:${this.partition}:iam::${hubAccountId.valueAsString}:role/${WORKER_ROLE_NAME}`;
    this.readerRole = new Role(this, 'CostExplorerReader', {
      roleName: COST_READER_ROLE_NAME,
      description: 'Read-only Cost Explorer access for the lease-costs worker in the hub account',
      assumedBy: new ArnPrincipal(workerRoleArn),
      externalIds: [externalId.valueAsString],
      inlinePolicies: {
        CostExplorerRead: new PolicyDocument({
          statements: [new PolicyStatement({ actions: COST_EXPLORER_ACTIONS, resources: ['*'] })],
        }),
      },
    });
    acknowledge(this.readerRole, {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Cost Explorer has no resource-level permissions: its actions take only Resource "*" (the role is limited to two read actions instead)',
    });

    new CfnOutput(this, 'CostExplorerRoleArn', {
      description: 'COST_EXPLORER_ROLE_ARN for the worker (the hub stack builds the same ARN)',
      value: this.readerRole.roleArn,
    });
  }
}
