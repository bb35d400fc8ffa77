import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { COST_READER_ROLE_NAME, WORKER_ROLE_NAME } from '../../infra/names';
import { STAGING_OBJECT_TAG } from '../../src/domain/storage';
import { WORKFLOW_TYPE } from '../../src/infrastructure/client';
import { HEALTH_PATH, WEBHOOK_PATH } from '../../src/interfaces/webhook';
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
  const [[id, task]] = resourcesOf(hub, 'AWS::ECS::TaskDefinition').filter(([, p]) => p.ContainerDefinitions[0].Command[0] === command) as [[string, Record<string, any>]];
  return { id, task, container: task.ContainerDefinitions[0] };
};
const statementsOf = (roleLogicalId: string) => iamStatements(hub).filter((s) => s.owner === roleLogicalId);
const roleIdOf = (arn: unknown) => (arn as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]!;

describe('hub stack: report bucket', () => {
  it('is encrypted, private, TLS-only, and expires the tagged staged pages under the prefix', () => {
    hub.template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: {
        Rules: Match.arrayWith([Match.objectLike({
          Status: 'Enabled', Prefix: ref('ReportKeyPrefix'), ExpirationInDays: 14,
          TagFilters: [{ Key: STAGING_OBJECT_TAG.key, Value: STAGING_OBJECT_TAG.value }],
        })]),
      },
    });
    hub.template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    hub.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: ref(bucketId),
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({
        Effect: 'Deny', Principal: { AWS: '*' }, Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      })]) },
    });
  });
});

describe('hub stack: intake through an API destination', () => {
  it('routes LeaseTerminated from the ISB bus to the webhook, retrying for 24 hours into a dead-letter queue', () => {
    const [[, rule]] = resourcesOf(hub, 'AWS::Events::Rule') as [[string, Record<string, any>]];
    expect(rule.EventPattern).toEqual({ source: [{ prefix: 'InnovationSandbox-' }, 'isb'], 'detail-type': ['LeaseTerminated'] });
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
      AuthParameters: { ApiKeyAuthParameters: {
        ApiKeyName: 'x-api-key',
        ApiKeyValue: { 'Fn::Join': ['', ['{{resolve:secretsmanager:', ref(keyId), ':SecretString:::}}']] },
      } },
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
      for (const [name, key] of [['TEMPORAL_ADDRESS', 'address'], ['TEMPORAL_NAMESPACE', 'namespace'], ['TEMPORAL_API_KEY', 'apiKey']]) {
        expect(secrets, `${command} ${name}`).toContainEqual({ Name: name, ValueFrom: { 'Fn::Join': ['', [ref('TemporalSecretArn'), `:${key}::`]] } });
      }
      const names = taskOf(command).container.Environment.map((e: { Name: string }) => e.Name);
      expect(names.filter((n: string) => /KEY|SECRET$|TOKEN|PASSWORD/.test(n) && n !== 'S3_KEY_PREFIX'), command).toEqual([]);
    }
  });

  it('gives the worker its settings, signing report links with the webhook as their base', () => {
    const { container } = taskOf('worker');
    const env = Object.fromEntries(container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
    expect(Object.keys(env).sort()).toEqual([
      'COST_EXPLORER_EXTERNAL_ID', 'COST_EXPLORER_ROLE_ARN', 'EVENT_BUS_NAME', 'ISB_API_BASE_URL', 'ISB_JWT_SECRET_PATH',
      'LEDGER_ENABLED', 'LOG_LEVEL', 'REPORT_LINK_BASE_URL', 'S3_BUCKET_NAME', 'S3_KEY_PREFIX',
    ]);
    // No PostgreSQL in this stack: the worker must start without the ledger, not fail its config check.
    expect(env.LEDGER_ENABLED).toBe('false');
    expect(env.REPORT_LINK_BASE_URL).toEqual({ 'Fn::Join': ['', ['https://', ref('WebhookDomainName')]] });
    expect(JSON.stringify(env.COST_EXPLORER_ROLE_ARN)).toContain(`:role/${COST_READER_ROLE_NAME}`);
    expect(container.Secrets.map((s: { Name: string }) => s.Name)).toContain('REPORT_LINK_SIGNING_KEY');
  });

  it('serves the webhook over HTTPS only, health-checked on /healthz', () => {
    const listeners = resourcesOf(hub, 'AWS::ElasticLoadBalancingV2::Listener').map(([, p]) => p);
    expect(listeners).toHaveLength(1);
    expect(listeners[0]).toMatchObject({ Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: ref('CertificateArn') }] });
    expect(listeners[0]!.SslPolicy).toMatch(/TLS13/);
    hub.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080, Protocol: 'HTTP', TargetType: 'ip', HealthCheckPath: HEALTH_PATH, Matcher: { HttpCode: '200' },
    });
    hub.template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'routing.http.drop_invalid_header_fields.enabled', Value: 'true' }]),
    });
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
      { Effect: 'Allow', Action: 'sts:AssumeRole',
        Resource: { 'Fn::Join': ['', ['arn:', ref('AWS::Partition'), ':iam::', ref('ManagementAccountId'), `:role/${COST_READER_ROLE_NAME}`]] } },
      { Effect: 'Allow', Action: ['s3:PutObject', 's3:PutObjectTagging', 's3:GetObject'], Resource: objects },
      { Effect: 'Allow', Action: 'events:PutEvents', Resource: ref('IsbEventBusArn') },
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ref('IsbJwtSecretArn') },
      // The ISB's key, through Secrets Manager only: no other key, no direct decrypt.
      { Effect: 'Allow', Action: 'kms:Decrypt', Resource: ref('IsbKmsKeyArn'),
        Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', ref('AWS::Region'), '.amazonaws.com']] } } } },
    ]);
    hub.template.hasParameter('IsbKmsKeyArn', { Type: 'String', AllowedPattern: Match.stringLikeRegexp(':kms:') });
  });

  it('lets the webhook read reports under the prefix, and nothing else', () => {
    const statements = statementsOf(roleIdOf(taskOf('webhook').task.TaskRoleArn)).map(({ owner: _, ...s }) => s);
    expect(statements).toEqual([{
      Effect: 'Allow', Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/', ref('ReportKeyPrefix'), '*']] },
    }]);
  });
});

describe('hub stack: alarms', () => {
  const alarms = resourcesOf(hub, 'AWS::CloudWatch::Alarm');
  const topicId = logicalId('AWS::SNS::Topic', () => true);

  it('mails every alarm, raised and cleared, to the topic of the AlarmEmail parameter', () => {
    hub.template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: ref('AlarmEmail'), TopicArn: ref(topicId) });
    expect(alarms).toHaveLength(6);
    for (const [id, p] of alarms) {
      expect(p.AlarmActions, id).toEqual([ref(topicId)]);
      expect(p.OKActions, id).toEqual([ref(topicId)]);
    }
  });

  it('watches failed runs, dead letters, webhook 5xx and health, and missing tasks of each service', () => {
    hub.template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: `{ ($.message = "Workflow failed") && ($.workflowType = "${WORKFLOW_TYPE}") }`,
      MetricTransformations: [{ MetricNamespace: 'LeaseCosts', MetricName: 'FailedRuns', MetricValue: '1' }],
    });
    const watched = alarms.map(([, p]) => p.MetricName ?? p.Metrics.map((m: any) => m.MetricStat?.Metric.MetricName).filter(Boolean).sort().join('+'));
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

describe('hub stack: checks', () => {
  it('passes cdk-nag AwsSolutions with no errors or warnings left', () => {
    expect(hub.nag).toEqual([]);
  });

  it('passes cfn-lint with no errors', async () => {
    const findings = await cfnLint([hub.templatePath]);
    expect(findings.filter((f) => f.Level === 'Error')).toEqual([]);
  });
});
