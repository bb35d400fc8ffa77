import { App } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { buildApp } from '../../infra/app';
import { describe, expect, it } from 'vitest';
import { COST_READER_ROLE_NAME, WORKER_ROLE_NAME } from '../../infra/names';
import { EVENT_SOURCE, FAILURE_DETAIL_TYPE } from '../../src/domain/events';
import { STAGING_OBJECT_TAG } from '../../src/domain/storage';
import { WORKFLOW_TYPE } from '../../src/infrastructure/client';
import { REPORT_LINK_PATH } from '../../src/infrastructure/report-link-signing';
import { HEALTH_PATH, LIVENESS_PATH, WEBHOOK_PATH } from '../../src/interfaces/webhook-server';
import { describeTaskStarts } from './task-config';
import { asList, cfnLint, iamStatements, resourcesOf, synthesize } from './synth';

const { hub } = synthesize();
const ref = (id: string) => ({ Ref: id });
const logicalId = (type: string, match: (p: Record<string, any>) => boolean) => {
  const found = resourcesOf(hub, type).filter(([, p]) => match(p));
  expect(found, type).toHaveLength(1);
  return found[0]![0];
};
const bucketId = logicalId('AWS::S3::Bucket', () => true);
/** The container of the service running `lease-costs <command>`, and its task definition. */
const taskOf = (command: string) => {
  const [[id, task]] = resourcesOf(hub, 'AWS::ECS::TaskDefinition').filter(
    ([, p]) => p.ContainerDefinitions[0].Command[0] === command,
  ) as [[string, Record<string, any>]];
  return { id, task, container: task.ContainerDefinitions[0] };
};
const envOf = (container: { Environment: { Name: string; Value: unknown }[] }) =>
  Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
const statementsOf = (roleLogicalId: string) => iamStatements(hub).filter((s) => s.owner === roleLogicalId);
const roleIdOf = (arn: unknown) => (arn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;

describe('hub stack: report bucket', () => {
  it('is encrypted, private, TLS-only, and expires the tagged staged pages under the prefix', () => {
    hub.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            Status: 'Enabled',
            Prefix: ref('ReportKeyPrefix'),
            ExpirationInDays: 14,
            TagFilters: [{ Key: STAGING_OBJECT_TAG.key, Value: STAGING_OBJECT_TAG.value }],
          }),
        ]),
      },
    });
    hub.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    hub.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(bucketId),
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });
});

describe('hub stack: intake through an API destination', () => {
  it('routes LeaseTerminated from the ISB bus to the webhook, retrying for 24 hours into a dead-letter queue', () => {
    const [[, rule]] = resourcesOf(hub, 'AWS::Events::Rule').filter(
      ([, p]) => p.EventPattern['detail-type'][0] === 'LeaseTerminated',
    ) as [[string, Record<string, any>]];
    expect(rule.EventPattern).toEqual({
      source: [{ prefix: 'InnovationSandbox-' }, 'isb'],
      'detail-type': ['LeaseTerminated'],
    });
    expect(JSON.stringify(rule.EventBusName)).toContain('IsbEventBusArn');
    expect(rule.Targets).toHaveLength(1);
    const destinationId = logicalId('AWS::Events::ApiDestination', () => true);
    const dlqId = logicalId('AWS::SQS::Queue', () => true);
    expect(rule.Targets[0]).toMatchObject({
      Arn: { 'Fn::GetAtt': [destinationId, 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
    });
    hub.template.hasResourceProperties('AWS::Events::ApiDestination', {
      HttpMethod: 'POST',
      InvocationEndpoint: { 'Fn::Join': ['', ['https://', ref('WebhookDomainName'), WEBHOOK_PATH]] },
    });
  });

  it('sends the webhook key from Secrets Manager, the same secret the webhook reads', () => {
    const keyId = logicalId('AWS::SecretsManager::Secret', (p) => /x-api-key/.test(p.Description));
    hub.template.hasResourceProperties('AWS::Events::Connection', {
      AuthorizationType: 'API_KEY',
      AuthParameters: {
        ApiKeyAuthParameters: {
          ApiKeyName: 'x-api-key',
          ApiKeyValue: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', ref(keyId), ':SecretString:::}}']] },
        },
      },
    });
    expect(taskOf('webhook').container.Secrets).toContainEqual({ Name: 'WEBHOOK_API_KEY', ValueFrom: ref(keyId) });
  });
});

describe('hub stack: services', () => {
  it('runs the worker and the webhook on Fargate from the repository image, in private subnets', () => {
    const services = resourcesOf(hub, 'AWS::ECS::Service').map(([, p]) => p);
    expect(services).toHaveLength(2);
    for (const s of services) {
      expect(s.LaunchType).toBe('FARGATE');
      expect(s.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp).toBe('DISABLED');
      expect(s.DeploymentConfiguration).toMatchObject({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } });
    }
    const images = new Set(['worker', 'webhook'].map((c) => JSON.stringify(taskOf(c).container.Image)));
    expect(images.size).toBe(1);
    expect([...images][0]).toContain('container-assets');
  });

  it('takes the Temporal address, namespace and API key from one secret', () => {
    for (const command of ['worker', 'webhook']) {
      const secrets = taskOf(command).container.Secrets;
      for (const [name, key] of [
        ['TEMPORAL_ADDRESS', 'address'],
        ['TEMPORAL_NAMESPACE', 'namespace'],
        ['TEMPORAL_API_KEY', 'apiKey'],
      ]) {
        expect(secrets, `${command} ${name}`).toContainEqual({
          Name: name,
          ValueFrom: { 'Fn::Join': ['', [ref('TemporalSecretArn'), `:${key}::`]] },
        });
      }
      const names = taskOf(command).container.Environment.map((e: { Name: string }) => e.Name);
      expect(
        names.filter((n: string) => /KEY|SECRET$|TOKEN|PASSWORD/.test(n) && n !== 'S3_KEY_PREFIX'),
        command,
      ).toEqual([]);
    }
  });

  it('gives the worker its settings, signing report links with the webhook as their base', () => {
    const { container } = taskOf('worker');
    const env = envOf(container);
    expect(Object.keys(env).sort()).toEqual([
      'COST_EXPLORER_EXTERNAL_ID',
      'COST_EXPLORER_ROLE_ARN',
      'DATABASE_URL',
      'EVENT_BUS_NAME',
      'ISB_API_BASE_URL',
      'ISB_JWT_SECRET_PATH',
      'LEDGER_ENABLED',
      'LOG_LEVEL',
      'REPORT_LINK_BASE_URL',
      'S3_BUCKET_NAME',
      'S3_KEY_PREFIX',
      'TEMPORAL_WORKER_BUILD_ID',
    ]);
    expect(env.REPORT_LINK_BASE_URL).toEqual({ 'Fn::Join': ['', ['https://', ref('WebhookDomainName')]] });
    expect(JSON.stringify(env.COST_EXPLORER_ROLE_ARN)).toContain(`:role/${COST_READER_ROLE_NAME}`);
    expect(container.Secrets.map((s: { Name: string }) => s.Name)).toContain('REPORT_LINK_SIGNING_KEY');
  });

  it('serves the webhook over HTTPS only, forwarding only the event path and report links, health-checked on liveness', () => {
    const listeners = resourcesOf(hub, 'AWS::ElasticLoadBalancingV2::Listener').map(([, p]) => p);
    expect(listeners).toHaveLength(1);
    expect(listeners[0]).toMatchObject({
      Port: 443,
      Protocol: 'HTTPS',
      Certificates: [{ CertificateArn: ref('CertificateArn') }],
    });
    expect(listeners[0]!.SslPolicy).toMatch(/TLS13/);
    hub.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080,
      Protocol: 'HTTP',
      TargetType: 'ip',
      HealthCheckPath: LIVENESS_PATH,
      Matcher: { HttpCode: '200' },
    });
    // Anything else, /metrics and the Temporal readiness check included, ends at the load balancer.
    expect(listeners[0]!.DefaultActions).toEqual([
      { Type: 'fixed-response', FixedResponseConfig: expect.objectContaining({ StatusCode: '404' }) },
    ]);
    const targetGroupId = logicalId('AWS::ElasticLoadBalancingV2::TargetGroup', () => true);
    const rules = resourcesOf(hub, 'AWS::ElasticLoadBalancingV2::ListenerRule').map(([, p]) => p);
    expect(rules).toEqual([
      expect.objectContaining({
        Actions: [{ Type: 'forward', TargetGroupArn: ref(targetGroupId) }],
        Conditions: [{ Field: 'path-pattern', PathPatternConfig: { Values: [WEBHOOK_PATH, `${REPORT_LINK_PATH}*`] } }],
      }),
    ]);
    const forwarded = rules.flatMap((r) => r.Conditions[0].PathPatternConfig.Values as string[]);
    const reaches = (path: string) =>
      forwarded.some((pattern) => new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`).test(path));
    for (const inside of ['/metrics', HEALTH_PATH, LIVENESS_PATH, '/']) expect(reaches(inside), inside).toBe(false);
    for (const outside of [WEBHOOK_PATH, `${REPORT_LINK_PATH}reports/lease/v1.csv`])
      expect(reaches(outside), outside).toBe(true);
    hub.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' },
      ]),
    });
  });

  it('runs this checkout as the one worker build by default, versioned, its build id the image tag', () => {
    const { container } = taskOf('worker');
    const buildId = envOf(container).TEMPORAL_WORKER_BUILD_ID as string;
    expect(buildId).toMatch(/^[0-9a-f]{64}$/);
    expect(container.Image).toEqual({
      'Fn::Sub': expect.stringMatching(
        new RegExp(`/cdk-[a-z0-9]+-container-assets-\\$\\{AWS::AccountId\\}-\\$\\{AWS::Region\\}:${buildId}$`),
      ),
    });
    const outputs = hub.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.NewestWorkerBuildId!.Value).toBe(buildId);
    // What the next deploy passes back: the build with its image, whose tag is in the asset repository.
    expect(JSON.stringify(outputs.WorkerBuilds!.Value)).toContain(`{\\"buildId\\":\\"${buildId}\\",\\"image\\":\\"`);
  });

  it("keeps one build when the last deploy's builds come back with this unchanged checkout added", () => {
    const image = `222222222222.dkr.ecr.eu-west-2.amazonaws.com/cdk-hnb659fds-container-assets-222222222222-eu-west-2:${envOf(taskOf('worker').container).TEMPORAL_WORKER_BUILD_ID}`;
    const app = new App({ context: { workerBuilds: JSON.stringify([{ buildId: image.split(':')[1], image }, {}]) } });
    const stack = buildApp(app).hub;
    expect(stack.node.children.filter((c) => c.node.id.startsWith('Worker-')).map((c) => c.node.id)).toEqual([
      `Worker-${image.split(':')[1]}`,
    ]);
  });

  it('keeps every log group for a bounded time', () => {
    const groups = resourcesOf(hub, 'AWS::Logs::LogGroup');
    expect(groups.length).toBeGreaterThanOrEqual(3);
    for (const [id, p] of groups) expect(p.RetentionInDays, id).toBe(90);
  });
});

describe('hub stack: least privilege', () => {
  it('has no wildcard action anywhere, and Resource "*" only where AWS allows nothing narrower', () => {
    const statements = iamStatements(hub);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      for (const action of asList(s.Action)) expect(action, s.owner).not.toMatch(/\*/);
      if (s.Resource === '*') expect(s.Action, s.owner).toBe('ecr:GetAuthorizationToken');
    }
  });

  it('gives each process its own task role', () => {
    const roles = ['worker', 'webhook'].map((c) => roleIdOf(taskOf(c).task.TaskRoleArn));
    expect(new Set(roles).size).toBe(2);
    hub.template.hasResourceProperties('AWS::IAM::Role', { RoleName: WORKER_ROLE_NAME });
  });

  it('lets the worker assume the one reader role and touch only the report prefix, the bus, the ISB secret and its key', () => {
    const statements = statementsOf(roleIdOf(taskOf('worker').task.TaskRoleArn)).map(({ owner: _, ...s }) => s);
    const objects = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/', ref('ReportKeyPrefix'), '*']] };
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Resource: {
          'Fn::Join': [
            '',
            ['arn:', ref('AWS::Partition'), ':iam::', ref('ManagementAccountId'), `:role/${COST_READER_ROLE_NAME}`],
          ],
        },
      },
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject'], Resource: objects },
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: ref('IsbEventBusArn') },
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref('IsbJwtSecretArn') },
      // The ISB's key, through Secrets Manager only: no other key, no direct decrypt.
      {
        Effect: 'Allow',
        Action: 'kms:Decrypt',
        Resource: ref('IsbKmsKeyArn'),
        Condition: {
          StringEquals: {
            'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', ref('AWS::Region'), '.amazonaws.com']] },
          },
        },
      },
    ]);
    hub.template.hasParameter('IsbKmsKeyArn', { Type: 'String', AllowedPattern: Match.stringLikeRegexp(':kms:') });
  });

  it('lets the webhook read reports under the prefix, and nothing else', () => {
    const statements = statementsOf(roleIdOf(taskOf('webhook').task.TaskRoleArn)).map(({ owner: _, ...s }) => s);
    expect(statements).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:GetObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/', ref('ReportKeyPrefix'), '*']] },
      },
    ]);
  });
});

describe('hub stack: alarms', () => {
  const alarms = resourcesOf(hub, 'AWS::CloudWatch::Alarm');
  const topicId = logicalId('AWS::SNS::Topic', () => true);

  it('mails every alarm, raised and cleared, to the topic of the AlarmEmail parameter', () => {
    hub.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: ref('AlarmEmail'),
      TopicArn: ref(topicId),
    });
    expect(alarms).toHaveLength(6);
    for (const [id, p] of alarms) {
      expect(p.AlarmActions, id).toEqual([ref(topicId)]);
      expect(p.OKActions, id).toEqual([ref(topicId)]);
    }
  });

  it('watches failed runs, dead letters, webhook 5xx and health, and missing tasks of each service', () => {
    hub.template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: `{ ($.msg = "Workflow failed") && ($.workflowType = "${WORKFLOW_TYPE}") }`,
      MetricTransformations: [{ MetricNamespace: 'LeaseCosts', MetricName: 'FailedRuns', MetricValue: '1' }],
    });
    const watched = alarms.map(
      ([, p]) =>
        p.MetricName ??
        p.Metrics.map((m: any) => m.MetricStat?.Metric.MetricName)
          .filter(Boolean)
          .sort()
          .join('+'),
    );
    expect(watched.sort()).toEqual([
      'ApproximateNumberOfMessagesVisible',
      'DesiredTaskCount+RunningTaskCount',
      'DesiredTaskCount+RunningTaskCount',
      'FailedRuns',
      'HTTPCode_Target_5XX_Count',
      'UnHealthyHostCount',
    ]);
  });
});

describe('hub stack: a complete deployment', () => {
  const dbId = logicalId('AWS::RDS::DBInstance', () => true);
  const dbSecretAttachment = logicalId('AWS::SecretsManager::SecretTargetAttachment', () => true);
  const securityGroupOf = (serviceCommand: string) => {
    const [[, service]] = resourcesOf(hub, 'AWS::ECS::Service').filter(
      ([, p]) => p.TaskDefinition.Ref === taskOf(serviceCommand).id,
    ) as [[string, Record<string, any>]];
    return service.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups[0]['Fn::GetAtt'][0] as string;
  };

  it('has a PostgreSQL ledger, encrypted, backed up, in subnets with no route out, reachable only from the worker and operator tasks', () => {
    const [[, db]] = resourcesOf(hub, 'AWS::RDS::DBInstance') as [[string, Record<string, any>]];
    expect(db).toMatchObject({
      Engine: 'postgres',
      StorageEncrypted: true,
      DeletionProtection: true,
      DBName: 'lease_costs',
      BackupRetentionPeriod: 7,
    });
    expect(db.PubliclyAccessible).not.toBe(true);
    hub.template.hasResource('AWS::RDS::DBInstance', { DeletionPolicy: 'Snapshot' });
    const [[, subnetGroup]] = resourcesOf(hub, 'AWS::RDS::DBSubnetGroup') as [[string, Record<string, any>]];
    const isolated = resourcesOf(hub, 'AWS::EC2::Subnet')
      .filter(([, p]) => p.Tags.some((t: any) => t.Key === 'aws-cdk:subnet-type' && t.Value === 'Isolated'))
      .map(([id]) => ref(id));
    expect(subnetGroup.SubnetIds.sort()).toEqual(isolated.sort());
    const dbSecurityGroup = db.VPCSecurityGroups[0]['Fn::GetAtt'][0];
    const ingress = resourcesOf(hub, 'AWS::EC2::SecurityGroupIngress')
      .map(([, p]) => p)
      .filter((p) => p.GroupId['Fn::GetAtt'][0] === dbSecurityGroup);
    const operatorGroup = logicalId('AWS::EC2::SecurityGroup', (p) => /operator/.test(p.GroupDescription));
    expect(ingress.map((p) => p.SourceSecurityGroupId['Fn::GetAtt'][0]).sort()).toEqual(
      [securityGroupOf('worker'), operatorGroup].sort(),
    );
    for (const p of ingress)
      expect([p.FromPort, p.ToPort]).toEqual([
        { 'Fn::GetAtt': [dbId, 'Endpoint.Port'] },
        { 'Fn::GetAtt': [dbId, 'Endpoint.Port'] },
      ]);
  });

  it('runs the worker with the ledger on, its URL from the instance and its credentials from the instance secret', () => {
    const { container } = taskOf('worker');
    const env = envOf(container);
    expect(env.LEDGER_ENABLED).toBe('true');
    expect(env.DATABASE_URL).toEqual({
      'Fn::Join': [
        '',
        [
          'postgres://',
          { 'Fn::GetAtt': [dbId, 'Endpoint.Address'] },
          ':',
          { 'Fn::GetAtt': [dbId, 'Endpoint.Port'] },
          '/lease_costs?sslmode=no-verify',
        ],
      ],
    });
    for (const [name, key] of [
      ['PGUSER', 'username'],
      ['PGPASSWORD', 'password'],
    ]) {
      expect(container.Secrets).toContainEqual({
        Name: name,
        ValueFrom: { 'Fn::Join': ['', [ref(dbSecretAttachment), `:${key}::`]] },
      });
    }
  });

  it('gives every process the payload encryption keys from the secret parameter', () => {
    const tasks = resourcesOf(hub, 'AWS::ECS::TaskDefinition');
    expect(tasks.length).toBe(3);
    for (const [id, task] of tasks) {
      expect(task.ContainerDefinitions[0].Secrets, id).toContainEqual({
        Name: 'PAYLOAD_ENCRYPTION_KEYS',
        ValueFrom: ref('PayloadEncryptionKeysSecretArn'),
      });
    }
    hub.template.hasParameter('PayloadEncryptionKeysSecretArn', {
      AllowedPattern: Match.stringLikeRegexp('secretsmanager'),
    });
  });

  it('installs the search attributes and the reconcile schedule on deploy: every worker sets them up at start', () => {
    expect(taskOf('worker').container.Command).toEqual(['worker', '--setup']);
  });

  it("has a one-off operator task with the worker's role and settings, and the outputs run-task needs", () => {
    const operator = taskOf('check');
    const worker = taskOf('worker');
    expect(resourcesOf(hub, 'AWS::ECS::Service').map(([, p]) => p.TaskDefinition.Ref)).not.toContain(operator.id);
    expect(operator.task.TaskRoleArn).toEqual(worker.task.TaskRoleArn);
    // The worker's settings; the build id is the worker's alone (the operator task does not poll).
    expect(operator.container.Environment).toEqual(
      worker.container.Environment.filter((e: { Name: string }) => e.Name !== 'TEMPORAL_WORKER_BUILD_ID'),
    );
    expect(operator.container.Secrets).toEqual(worker.container.Secrets);
    const outputs = hub.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.OperatorTaskDefinitionArn!.Value).toEqual(ref(operator.id));
    for (const name of [
      'ClusterName',
      'OperatorSecurityGroupId',
      'OperatorLogGroupName',
      'PrivateSubnetIds',
      'LedgerSecretArn',
    ])
      expect(outputs[name], name).toBeDefined();
  });

  it('sends each LeaseCostsFailed event to the alarm topic', () => {
    const topicId = logicalId('AWS::SNS::Topic', () => true);
    const rules = resourcesOf(hub, 'AWS::Events::Rule')
      .map(([, p]) => p)
      .filter((p) => p.EventPattern.source[0] === EVENT_SOURCE);
    expect(rules).toEqual([
      expect.objectContaining({
        EventPattern: { source: [EVENT_SOURCE], 'detail-type': [FAILURE_DETAIL_TYPE] },
        EventBusName: expect.anything(),
        Targets: [expect.objectContaining({ Arn: ref(topicId) })],
      }),
    ]);
    expect(JSON.stringify(rules[0]!.EventBusName)).toContain('IsbEventBusArn');
    hub.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sns:Publish' }),
        ]),
      },
    });
  });
});

describe('hub stack: checks', () => {
  it('passes cdk-nag AwsSolutions with no errors or warnings left', () => {
    expect(hub.nag).toEqual([]);
  });

  it('passes cfn-lint with no errors', async () => {
    const findings = await cfnLint([hub.templatePath]);
    expect(findings.filter((f) => f.Level === 'Error')).toEqual([]);
  });
});

describeTaskStarts(hub, { intake: 'api-destination' });
