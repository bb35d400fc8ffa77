import { Stack } from 'aws-cdk-lib';
import { PolicyDocument, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { acknowledge } from '../nag';
import { COST_READER_ROLE_NAME, WORKER_ROLE_NAME } from '../names';

// One task role per process, each allowed exactly what that process calls, on named resources.

/** The one wildcard these roles hold: the objects under the report key prefix. */
function acknowledgePrefixWildcard(role: Role, reportObjectsArn: string): void {
  acknowledge(role, {
    id: `AwsSolutions-IAM5[Resource::${nagRendering(Stack.of(role).resolve(reportObjectsArn))}]`,
    reason:
      'Every report and staged page lives under the configured key prefix; the grant is that prefix, nothing else in the bucket',
  });
}

/** A resolved value as cdk-nag names it in a finding: `<Logical.Attr>` for GetAtt, `<Logical>` for Ref. */
function nagRendering(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as { 'Fn::Join'?: [string, unknown[]]; 'Fn::GetAtt'?: string[]; Ref?: string };
  if (v['Fn::Join']) return v['Fn::Join'][1].map(nagRendering).join(v['Fn::Join'][0]);
  if (v['Fn::GetAtt']) return `<${v['Fn::GetAtt'].join('.')}>`;
  if (v.Ref) return `<${v.Ref}>`;
  throw new Error(`cannot render ${JSON.stringify(value)} as a cdk-nag finding`);
}

function taskRole(scope: Construct, id: string, statements: PolicyStatement[], roleName?: string): Role {
  const stack = Stack.of(scope);
  return new Role(scope, id, {
    roleName,
    // Only ECS tasks of this account may use it (confused-deputy protection).
    assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com', {
      conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
    }),
    inlinePolicies: { LeastPrivilege: new PolicyDocument({ statements }) },
  });
}

export function workerTaskRole(
  scope: Construct,
  props: {
    managementAccountId: string;
    reportObjectsArn: string;
    eventBusArn: string;
    isbJwtSecretArn: string;
    isbKmsKeyArn: string;
  },
): Role {
  const stack = Stack.of(scope);
  const role = taskRole(
    scope,
    'WorkerTaskRole',
    [
      new PolicyStatement({
        actions: ['sts:AssumeRole'],
        resources: [`arn:${stack.partition}:iam::${props.managementAccountId}:role/${COST_READER_ROLE_NAME}`],
      }),
      // GetObject: staged pages, the checksum read-back, presigned downloads; tagging: staged pages' expiry tag.
      new PolicyStatement({
        actions: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject'],
        resources: [props.reportObjectsArn],
      }),
      new PolicyStatement({ actions: ['events:PutEvents'], resources: [props.eventBusArn] }),
      // Read at run time, and again on a 401 from the ISB API, so a rotated secret needs no restart.
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [props.isbJwtSecretArn] }),
      // The secret is encrypted with the ISB's own key: decrypt with that key, and only through Secrets Manager.
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [props.isbKmsKeyArn],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${stack.region}.amazonaws.com` } },
      }),
    ],
    WORKER_ROLE_NAME,
  );
  acknowledgePrefixWildcard(role, props.reportObjectsArn);
  return role;
}

/** The webhook presigns short GETs behind verified report links: read access to reports only. */
export function webhookTaskRole(scope: Construct, props: { reportObjectsArn: string }): Role {
  const role = taskRole(scope, 'WebhookTaskRole', [
    new PolicyStatement({ actions: ['s3:GetObject'], resources: [props.reportObjectsArn] }),
  ]);
  acknowledgePrefixWildcard(role, props.reportObjectsArn);
  return role;
}

/** `lease-costs intake` long-polls one queue and deletes what it has started. */
export function intakeTaskRole(scope: Construct, props: { queueArn: string }): Role {
  return taskRole(scope, 'IntakeTaskRole', [
    new PolicyStatement({
      actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      resources: [props.queueArn],
    }),
  ]);
}
