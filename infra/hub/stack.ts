import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  InstanceClass,
  InstanceSize,
  InstanceType,
  IpAddresses,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerInsights, Secret as EcsSecret } from 'aws-cdk-lib/aws-ecs';
import {
  ApplicationLoadBalancer,
  ApplicationProtocol,
  ListenerAction,
  ListenerCertificate,
  ListenerCondition,
  SslPolicy,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Credentials, DatabaseInstance, DatabaseInstanceEngine, PostgresEngineVersion } from 'aws-cdk-lib/aws-rds';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { REPORT_LINK_PATH } from '../../src/infrastructure/report-link-signing';
import { LIVENESS_PATH, WEBHOOK_PATH } from '../../src/interfaces/webhook-server';
import { acknowledge } from '../nag';
import { COST_READER_ROLE_NAME } from '../names';
import { LeaseCostsAlarms } from './alarms';
import { resolveWorkerBuilds, type WorkerBuildSpec } from './builds';
import { LeaseTerminatedIntake, type IntakeMode } from './intake';
import { hubParameters } from './parameters';
import { intakeTaskRole, webhookTaskRole, workerTaskRole } from './roles';
import { LOG_RETENTION, processTask, ProcessService } from './service';
import { ReportBucket } from './storage';

const WEBHOOK_PORT = 8080;
/** The VPC's range: the load balancer's nodes take their addresses from it, so it is what the webhook trusts. */
export const VPC_CIDR = '10.0.0.0/16';
/** The ledger's database and user on the RDS instance. */
export const LEDGER_DATABASE = 'lease_costs';
const LEDGER_USER = 'lease_costs';
/** Paths the internet may reach through the load balancer; everything else (/metrics, /healthz) is 404 there. */
export const PUBLIC_PATHS = [WEBHOOK_PATH, `${REPORT_LINK_PATH}*`];

export interface HubStackProps extends StackProps {
  /** How LeaseTerminated events arrive (context `intake`). */
  intake: IntakeMode;
  /** Whether the Temporal secret has an `apiKey` (Temporal Cloud) or not (a cluster without API keys). */
  temporalApiKey: boolean;
  /**
   * The worker builds to run, oldest first (context `workerBuilds`): one worker service each, with
   * Worker Versioning on. The newest is the one the deploy makes current; it also runs the
   * webhook, intake and operator task.
   */
  workerBuilds: WorkerBuildSpec[];
}

/**
 * The hub account: report bucket, event intake, the worker and webhook (and intake) on Fargate, the
 * ledger database, a one-off operator task, the Temporal connection and payload keys from Secrets
 * Manager, and alarms to an e-mail topic. docs/deploy-aws.md lists it all.
 */
export class HubStack extends Stack {
  constructor(scope: Construct, id: string, props: HubStackProps) {
    super(scope, id, { description: 'lease-costs: per-lease AWS cost reports on Temporal', ...props });
    const params = hubParameters(this);
    acknowledge(this, {
      id: 'CloudFormation-Validate::W2509',
      reason:
        'IsbJwtSecretArn, TemporalSecretArn and PayloadEncryptionKeysSecretArn are ARNs of secrets, not secrets: the tasks read the values from Secrets Manager',
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
      acknowledge(secret, {
        id: 'AwsSolutions-SMG4',
        reason: 'Rotated by hand, as docs/deploy-aws.md describes: both ends must change together',
      });
    }
    const temporalSecret = Secret.fromSecretCompleteArn(this, 'TemporalSecret', params.temporalSecretArn);
    const temporal = {
      TEMPORAL_ADDRESS: EcsSecret.fromSecretsManager(temporalSecret, 'address'),
      TEMPORAL_NAMESPACE: EcsSecret.fromSecretsManager(temporalSecret, 'namespace'),
      ...(props.temporalApiKey ? { TEMPORAL_API_KEY: EcsSecret.fromSecretsManager(temporalSecret, 'apiKey') } : {}),
    };
    const reportLinkSecret = { REPORT_LINK_SIGNING_KEY: EcsSecret.fromSecretsManager(reportLinkKey) };

    const payloadKeysSecret = Secret.fromSecretCompleteArn(
      this,
      'PayloadEncryptionKeys',
      params.payloadEncryptionKeysSecretArn,
    );
    // Every process that starts or reads workflows encodes payloads the same way, so all get the keys.
    const payloadKeys = { PAYLOAD_ENCRYPTION_KEYS: EcsSecret.fromSecretsManager(payloadKeysSecret) };

    const vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(VPC_CIDR),
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC },
        { name: 'private', subnetType: SubnetType.PRIVATE_WITH_EGRESS },
        // The ledger's database: no route out at all.
        { name: 'database', subnetType: SubnetType.PRIVATE_ISOLATED },
      ],
      restrictDefaultSecurityGroup: false,
    });
    vpc.addFlowLog('RejectedTraffic', {
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(new LogGroup(this, 'FlowLogs', { retention: LOG_RETENTION })),
    });
    const cluster = new Cluster(this, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENABLED });
    // This checkout's image is built from the Dockerfile at deploy time (synth only stages the context).
    const builds = resolveWorkerBuilds(this, props.workerBuilds);
    const newest = builds.at(-1)!;
    const image = newest.image;

    // The cost ledger. The worker migrates it at start (openMigratedLedger, under an advisory lock).
    const ledger = new DatabaseInstance(this, 'Ledger', {
      // A version cfn-lint knows as creatable; RDS applies minor upgrades itself (autoMinorVersionUpgrade).
      engine: DatabaseInstanceEngine.postgres({ version: PostgresEngineVersion.VER_17_6 }),
      instanceType: InstanceType.of(InstanceClass.BURSTABLE4_GRAVITON, InstanceSize.MICRO),
      vpc,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      databaseName: LEDGER_DATABASE,
      credentials: Credentials.fromGeneratedSecret(LEDGER_USER, { excludeCharacters: ' %+~`#$&*()|[]{}:;<>?!\'/@"\\' }),
      allocatedStorage: 20,
      maxAllocatedStorage: 100,
      storageEncrypted: true,
      backupRetention: Duration.days(7),
      deletionProtection: true,
      removalPolicy: RemovalPolicy.SNAPSHOT,
    });
    acknowledge(
      ledger,
      {
        id: 'AwsSolutions-RDS3',
        reason:
          'Single-AZ: the ledger is rebuilt from the reports in S3 (rerun), and a failover instance would double its cost',
      },
      {
        id: 'AwsSolutions-RDS11',
        reason: 'The port is not a secret: only the worker and operator security groups may reach the instance at all',
      },
    );
    acknowledge(ledger, {
      id: 'AwsSolutions-SMG4',
      reason: 'Rotated by hand, as docs/deploy-aws.md describes: tasks read the password at start',
    });
    // No user or password in the URL: PGUSER and PGPASSWORD come from the instance's secret.
    // sslmode=no-verify: RDS requires TLS (rds.force_ssl), and the image has no RDS CA bundle to verify it against.
    const ledgerUrl = `postgres://${ledger.dbInstanceEndpointAddress}:${ledger.dbInstanceEndpointPort}/${LEDGER_DATABASE}?sslmode=no-verify`;
    const ledgerSecrets = {
      PGUSER: EcsSecret.fromSecretsManager(ledger.secret!, 'username'),
      PGPASSWORD: EcsSecret.fromSecretsManager(ledger.secret!, 'password'),
    };

    const bucketEnv = { S3_BUCKET_NAME: reports.bucket.bucketName, S3_KEY_PREFIX: params.reportKeyPrefix };
    const workerRole = workerTaskRole(this, {
      managementAccountId: params.managementAccountId,
      reportObjectsArn: reports.objectsArn,
      eventBusArn: isbBus.eventBusArn,
      isbJwtSecretArn: params.isbJwtSecretArn,
      isbKmsKeyArn: params.isbKmsKeyArn,
    });
    const workerEnvironment = {
      ...bucketEnv,
      COST_EXPLORER_ROLE_ARN: `arn:${this.partition}:iam::${params.managementAccountId}:role/${COST_READER_ROLE_NAME}`,
      COST_EXPLORER_EXTERNAL_ID: params.costExplorerExternalId,
      EVENT_BUS_NAME: isbBus.eventBusName,
      ISB_API_BASE_URL: params.isbApiBaseUrl,
      ISB_JWT_SECRET_PATH: params.isbJwtSecretArn,
      REPORT_LINK_BASE_URL: webhookBaseUrl,
      LEDGER_ENABLED: 'true',
      DATABASE_URL: ledgerUrl,
    };
    const workerSecrets = { ...temporal, ...reportLinkSecret, ...payloadKeys, ...ledgerSecrets };
    // Worker Versioning: one service per build (a rainbow deployment). A lease stays on the build that
    // started it, so a build's service runs until no open run is pinned to it (docs/upgrade.md); a
    // rolling update in place would leave those runs without a worker. The services share one log
    // group (the FailedRuns filter reads it) and one security group (the ledger admits it).
    const workerLogs = new LogGroup(this, 'WorkerLogs', {
      retention: LOG_RETENTION,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const workerSecurityGroup = new SecurityGroup(this, 'WorkerSecurityGroup', {
      vpc,
      description: 'lease-costs workers (every build)',
      allowAllOutbound: true,
    });
    ledger.connections.allowDefaultPortFrom(workerSecurityGroup, 'lease-costs workers');
    const workers = builds.map((build) => ({
      build,
      worker: new ProcessService(this, `Worker-${build.buildId}`, {
        // --setup (search attributes, schedules) on the newest build only: an older build's task,
        // restarted, would put back its own schedule definition.
        cluster,
        image: build.image,
        command: build === newest ? ['worker', '--setup'] : ['worker'],
        desiredCount: params.workerCount,
        taskRole: workerRole,
        environment: { ...workerEnvironment, TEMPORAL_WORKER_BUILD_ID: build.buildId },
        secrets: workerSecrets,
        logGroup: workerLogs,
        streamPrefix: `worker-${build.buildId}`,
        securityGroups: [workerSecurityGroup],
      }),
    }));

    // Operator commands (check, backfill, rerun, status…) as one-off tasks: `aws ecs run-task` with a
    // command override (docs/deploy-aws.md). The worker's role and settings, so `check` tests what
    // the worker will do.
    const operatorSecurityGroup = new SecurityGroup(this, 'OperatorSecurityGroup', {
      vpc,
      description: 'lease-costs one-off operator tasks',
      allowAllOutbound: true,
    });
    ledger.connections.allowDefaultPortFrom(operatorSecurityGroup, 'lease-costs operator tasks');
    const operator = processTask(new Construct(this, 'Operator'), 'operator', {
      image,
      command: ['check'],
      taskRole: workerRole,
      environment: workerEnvironment,
      secrets: workerSecrets,
    });

    const webhook = new ProcessService(this, 'Webhook', {
      cluster,
      image,
      command: ['webhook'],
      desiredCount: params.webhookCount,
      cpu: 256,
      memoryLimitMiB: 512,
      containerPort: WEBHOOK_PORT,
      taskRole: webhookTaskRole(this, { reportObjectsArn: reports.objectsArn }),
      // Only the load balancer's nodes (addresses in the VPC) are believed about X-Forwarded-For.
      environment: { ...bucketEnv, WEBHOOK_PORT: String(WEBHOOK_PORT), WEBHOOK_TRUST_PROXY: VPC_CIDR },
      secrets: {
        ...temporal,
        ...reportLinkSecret,
        ...payloadKeys,
        WEBHOOK_API_KEY: EcsSecret.fromSecretsManager(webhookApiKey),
      },
    });
    const alb = new ApplicationLoadBalancer(this, 'WebhookLoadBalancer', {
      vpc,
      internetFacing: true,
      dropInvalidHeaderFields: true,
    });
    const listener = alb.addListener('Https', {
      port: 443,
      protocol: ApplicationProtocol.HTTPS,
      certificates: [ListenerCertificate.fromArn(params.certificateArn)],
      sslPolicy: SslPolicy.RECOMMENDED_TLS,
      open: true,
      // Only the event path and the report links are forwarded; /metrics and /healthz stay inside.
      defaultAction: ListenerAction.fixedResponse(404, {
        contentType: 'application/json',
        messageBody: '{"error":"not found"}',
      }),
    });
    const webhookTargets = listener.addTargets('Webhook', {
      priority: 10,
      conditions: [ListenerCondition.pathPatterns(PUBLIC_PATHS)],
      port: WEBHOOK_PORT,
      protocol: ApplicationProtocol.HTTP,
      targets: [webhook.service],
      // Liveness, not readiness: a Temporal outage must not take down the tasks that serve report links.
      healthCheck: { path: LIVENESS_PATH, healthyHttpCodes: '200', interval: Duration.seconds(15) },
      deregistrationDelay: Duration.seconds(30),
    });
    acknowledge(
      alb,
      {
        id: 'AwsSolutions-EC23',
        reason:
          'Public HTTPS on 443 only: EventBridge API destinations and report-link recipients come from addresses that cannot be listed',
      },
      {
        id: 'AwsSolutions-ELB2',
        reason:
          'The webhook logs every request (method, path, status, latency) to CloudWatch; ALB access logs would duplicate them in another bucket',
      },
    );

    const intake = new LeaseTerminatedIntake(this, 'Intake', {
      bus: isbBus,
      mode: props.intake,
      webhookBaseUrl,
      webhookApiKey,
    });
    const services: Record<string, ProcessService> = {
      ...Object.fromEntries(workers.map(({ build, worker }) => [`Worker-${build.buildId}`, worker])),
      Webhook: webhook,
    };
    if (intake.queue) {
      services.Intake = new ProcessService(this, 'IntakeProcess', {
        cluster,
        image,
        command: ['intake', '--queue-url', intake.queue.queueUrl],
        desiredCount: 1,
        cpu: 256,
        memoryLimitMiB: 512,
        taskRole: intakeTaskRole(this, { queueArn: intake.queue.queueArn }),
        environment: {},
        secrets: { ...temporal, ...payloadKeys },
      });
    }

    const topic = new Topic(this, 'Alarms', { displayName: 'lease-costs alarms', enforceSSL: true });
    topic.addSubscription(new EmailSubscription(params.alarmEmail));
    new LeaseCostsAlarms(this, 'Alarm', {
      topic,
      workerLogGroup: workerLogs,
      eventBus: isbBus,
      deadLetterQueues: intake.deadLetterQueues,
      webhookTargets,
      services: Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.service])),
    });

    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    output('ReportBucketName', reports.bucket.bucketName, 'Bucket of the reports');
    output('LoadBalancerDnsName', alb.loadBalancerDnsName, 'Point WebhookDomainName here (CNAME or alias record)');
    output(
      'WebhookUrl',
      `${webhookBaseUrl}/webhooks/lease-terminated`,
      'Where EventBridge delivers (api-destination intake)',
    );
    output('WebhookApiKeySecretArn', webhookApiKey.secretArn, "The webhook's x-api-key");
    output('ReportLinkSigningKeySecretArn', reportLinkKey.secretArn, 'Key of the signed report links');
    output('AlarmTopicArn', topic.topicArn, 'Where the alarms go');
    intake.deadLetterQueues.forEach((q, i) =>
      output(`DeadLetterQueueUrl${i + 1}`, q.queueUrl, 'A dead-letter queue to watch and redrive'),
    );
    if (intake.queue) output('IntakeQueueUrl', intake.queue.queueUrl, 'The queue lease-costs intake reads');
    output('ClusterName', cluster.clusterName, 'The ECS cluster (for aws ecs run-task)');
    output(
      'OperatorTaskDefinitionArn',
      operator.task.taskDefinitionArn,
      'One-off operator commands: aws ecs run-task with a command override',
    );
    output(
      'OperatorSecurityGroupId',
      operatorSecurityGroup.securityGroupId,
      'Security group for operator tasks (may reach the ledger)',
    );
    output('OperatorLogGroupName', operator.logGroup.logGroupName, 'Where operator commands print (aws logs tail)');
    output(
      'PrivateSubnetIds',
      vpc.selectSubnets({ subnetType: SubnetType.PRIVATE_WITH_EGRESS }).subnetIds.join(','),
      'Subnets for operator tasks',
    );
    output('LedgerEndpoint', ledger.dbInstanceEndpointAddress, 'The ledger database (PostgreSQL) host');
    output('LedgerSecretArn', ledger.secret!.secretArn, 'The ledger database credentials');
    output(
      'WorkerBuilds',
      this.toJsonString(builds.map((b) => ({ buildId: b.buildId, image: b.imageUri }))),
      'The worker builds running, oldest first: the next deploy passes them back (-c workerBuilds=...), less the drained ones',
    );
    output(
      'NewestWorkerBuildId',
      newest.buildId,
      'Make it current once its workers poll: lease-costs deployment promote --build-id <this>',
    );
  }
}
