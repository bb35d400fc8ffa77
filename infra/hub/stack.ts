import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import { FlowLogDestination, FlowLogTrafficType, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Cluster, ContainerImage, ContainerInsights, Secret as EcsSecret } from 'aws-cdk-lib/aws-ecs';
import {
  ApplicationLoadBalancer, ApplicationProtocol, ListenerCertificate, SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { HEALTH_PATH } from '../../src/interfaces/webhook';
import { acknowledge } from '../nag';
import { COST_READER_ROLE_NAME, REPO_ROOT } from '../names';
import { LeaseCostsAlarms } from './alarms';
import { LeaseTerminatedIntake, type IntakeMode } from './intake';
import { hubParameters } from './parameters';
import { intakeTaskRole, webhookTaskRole, workerTaskRole } from './roles';
import { LOG_RETENTION, ProcessService } from './service';
import { ReportBucket } from './storage';

const WEBHOOK_PORT = 8080;

export interface HubStackProps extends StackProps {
  /** How LeaseTerminated events arrive (context `intake`). */
  intake: IntakeMode;
  /** Whether the Temporal secret has an `apiKey` (Temporal Cloud) or not (a cluster without API keys). */
  temporalApiKey: boolean;
}

/**
 * The hub account: report bucket, event intake, the worker and webhook (and intake) on Fargate,
 * the Temporal connection from Secrets Manager, and alarms to an e-mail topic.
 */
export class HubStack extends Stack {
  constructor(scope: Construct, id: string, props: HubStackProps) {
    super(scope, id, { description: 'lease-costs: per-lease AWS cost reports on Temporal', ...props });
    const params = hubParameters(this);
    acknowledge(this, {
      id: 'CloudFormation-Validate::W2509',
      reason: 'IsbJwtSecretArn and TemporalSecretArn are ARNs of secrets, not secrets: the tasks read the values from Secrets Manager',
    });
    const reports = new ReportBucket(this, 'Reports', { keyPrefix: params.reportKeyPrefix });
    const isbBus = EventBus.fromEventBusArn(this, 'IsbBus', params.isbEventBusArn);
    const webhookBaseUrl = `https://${params.webhookDomainName}`;

    const webhookApiKey = new Secret(this, 'WebhookApiKey', {
      description: 'x-api-key that EventBridge sends to the lease-costs webhook',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
    });
    const reportLinkKey = new Secret(this, 'ReportLinkSigningKey', {
      description: 'HMAC key of lease-costs report links (worker signs, webhook verifies)',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
    });
    for (const secret of [webhookApiKey, reportLinkKey]) {
      acknowledge(secret, { id: 'AwsSolutions-SMG4', reason: 'Rotated by hand, as README "Deploying on AWS" describes: both ends must change together' });
    }
    const temporalSecret = Secret.fromSecretCompleteArn(this, 'TemporalSecret', params.temporalSecretArn);
    const temporal = {
      TEMPORAL_ADDRESS: EcsSecret.fromSecretsManager(temporalSecret, 'address'),
      TEMPORAL_NAMESPACE: EcsSecret.fromSecretsManager(temporalSecret, 'namespace'),
      ...(props.temporalApiKey ? { TEMPORAL_API_KEY: EcsSecret.fromSecretsManager(temporalSecret, 'apiKey') } : {}),
    };
    const reportLinkSecret = { REPORT_LINK_SIGNING_KEY: EcsSecret.fromSecretsManager(reportLinkKey) };

    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC },
        { name: 'private', subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      ],
      restrictDefaultSecurityGroup: false,
    });
    vpc.addFlowLog('RejectedTraffic', {
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(new LogGroup(this, 'FlowLogs', { retention: LOG_RETENTION })),
    });
    const cluster = new Cluster(this, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENABLED });
    // Built from the repository's Dockerfile at deploy time (synth only stages the context).
    const image = ContainerImage.fromAsset(REPO_ROOT, { platform: Platform.LINUX_AMD64, exclude: ['cdk.out', '**/cdk.out'] });

    const bucketEnv = { S3_BUCKET_NAME: reports.bucket.bucketName, S3_KEY_PREFIX: params.reportKeyPrefix };
    const worker = new ProcessService(this, 'Worker', {
      cluster, image, command: ['worker'], desiredCount: params.workerCount,
      taskRole: workerTaskRole(this, {
        managementAccountId: params.managementAccountId,
        reportObjectsArn: reports.objectsArn,
        eventBusArn: isbBus.eventBusArn,
        isbJwtSecretArn: params.isbJwtSecretArn,
        isbKmsKeyArn: params.isbKmsKeyArn,
      }),
      environment: {
        ...bucketEnv,
        COST_EXPLORER_ROLE_ARN: `arn:${this.partition}:iam::${params.managementAccountId}:role/${COST_READER_ROLE_NAME}`,
        COST_EXPLORER_EXTERNAL_ID: params.costExplorerExternalId,
        EVENT_BUS_NAME: isbBus.eventBusName,
        ISB_API_BASE_URL: params.isbApiBaseUrl,
        ISB_JWT_SECRET_PATH: params.isbJwtSecretArn,
        REPORT_LINK_BASE_URL: webhookBaseUrl,
        // This stack has no PostgreSQL yet: the worker runs without the cost ledger rather than
        // failing its config check. With a database, drop this and give DATABASE_URL as a secret.
        LEDGER_ENABLED: 'false',
      },
      secrets: { ...temporal, ...reportLinkSecret },
    });

    const webhook = new ProcessService(this, 'Webhook', {
      cluster, image, command: ['webhook'], desiredCount: params.webhookCount, cpu: 256, memoryLimitMiB: 512,
      containerPort: WEBHOOK_PORT,
      taskRole: webhookTaskRole(this, { reportObjectsArn: reports.objectsArn }),
      environment: { ...bucketEnv, WEBHOOK_PORT: String(WEBHOOK_PORT), WEBHOOK_TRUST_PROXY: 'true' },
      secrets: { ...temporal, ...reportLinkSecret, WEBHOOK_API_KEY: EcsSecret.fromSecretsManager(webhookApiKey) },
    });
    const alb = new ApplicationLoadBalancer(this, 'WebhookLoadBalancer', { vpc, internetFacing: true, dropInvalidHeaderFields: true });
    const listener = alb.addListener('Https', {
      port: 443,
      protocol: ApplicationProtocol.HTTPS,
      certificates: [ListenerCertificate.fromArn(params.certificateArn)],
      sslPolicy: SslPolicy.RECOMMENDED_TLS,
      open: true,
    });
    const webhookTargets = listener.addTargets('Webhook', {
      port: WEBHOOK_PORT,
      protocol: ApplicationProtocol.HTTP,
      targets: [webhook.service],
      healthCheck: { path: HEALTH_PATH, healthyHttpCodes: '200', interval: Duration.seconds(15) },
      deregistrationDelay: Duration.seconds(30),
    });
    acknowledge(alb, {
      id: 'AwsSolutions-EC23',
      reason: 'Public HTTPS on 443 only: EventBridge API destinations and report-link recipients come from addresses that cannot be listed',
    }, {
      id: 'AwsSolutions-ELB2',
      reason: 'The webhook logs every request (method, path, status, latency) to CloudWatch; ALB access logs would duplicate them in another bucket',
    });

    const intake = new LeaseTerminatedIntake(this, 'Intake', { bus: isbBus, mode: props.intake, webhookBaseUrl, webhookApiKey });
    const services: Record<string, ProcessService> = { Worker: worker, Webhook: webhook };
    if (intake.queue) {
      services.Intake = new ProcessService(this, 'IntakeProcess', {
        cluster, image, command: ['intake', '--queue-url', intake.queue.queueUrl], desiredCount: 1, cpu: 256, memoryLimitMiB: 512,
        taskRole: intakeTaskRole(this, { queueArn: intake.queue.queueArn }),
        environment: {},
        secrets: temporal,
      });
    }

    const topic = new Topic(this, 'Alarms', { displayName: 'lease-costs alarms', enforceSSL: true });
    topic.addSubscription(new EmailSubscription(params.alarmEmail));
    new LeaseCostsAlarms(this, 'Alarm', {
      topic,
      workerLogGroup: worker.logGroup,
      deadLetterQueues: intake.deadLetterQueues,
      webhookTargets,
      services: Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.service])),
    });

    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('ReportBucketName', reports.bucket.bucketName, 'Bucket of the reports');
    output('LoadBalancerDnsName', alb.loadBalancerDnsName, 'Point WebhookDomainName here (CNAME or alias record)');
    output('WebhookUrl', `${webhookBaseUrl}/webhooks/lease-terminated`, 'Where EventBridge delivers (api-destination intake)');
    output('WebhookApiKeySecretArn', webhookApiKey.secretArn, 'The webhook\'s x-api-key');
    output('ReportLinkSigningKeySecretArn', reportLinkKey.secretArn, 'Key of the signed report links');
    output('AlarmTopicArn', topic.topicArn, 'Where the alarms go');
    intake.deadLetterQueues.forEach((q, i) => output(`DeadLetterQueueUrl${i + 1}`, q.queueUrl, 'A dead-letter queue to watch and redrive'));
    if (intake.queue) output('IntakeQueueUrl', intake.queue.queueUrl, 'The queue lease-costs intake reads');
  }
}
