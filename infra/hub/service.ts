import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { type ISecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import {
  AwsLogDriver,
  type Cluster,
  type ContainerDefinition,
  type ContainerImage,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  OperatingSystemFamily,
  type Secret,
} from 'aws-cdk-lib/aws-ecs';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Config } from '../../src/infrastructure/config';
import { acknowledge } from '../nag';

/** How long process logs are kept. */
export const LOG_RETENTION = RetentionDays.THREE_MONTHS;

/**
 * Variables a task may carry that are not lease-costs settings: node-postgres reads PGUSER and
 * PGPASSWORD when DATABASE_URL names no user or password (pg's ConnectionParameters falls back to
 * the PG* environment), so the database secret's fields reach it without being written into a URL.
 */
export const DRIVER_VARIABLES = ['PGUSER', 'PGPASSWORD'] as const;
export type TaskVariable = keyof Config | (typeof DRIVER_VARIABLES)[number];

export interface ProcessTaskProps {
  image: ContainerImage;
  /** `lease-costs <command…>` */
  command: string[];
  taskRole: IRole;
  /** Non-secret settings; names are checked against the config schema. */
  environment: Partial<Record<TaskVariable, string>>;
  secrets: Partial<Record<TaskVariable, Secret>>;
  cpu?: number;
  memoryLimitMiB?: number;
  containerPort?: number;
  /** A log group shared with other tasks (the worker builds share one); default: one of its own. */
  logGroup?: LogGroup;
}

export interface ProcessServiceProps extends ProcessTaskProps {
  cluster: Cluster;
  desiredCount: number;
  securityGroups?: ISecurityGroup[];
  /** Log stream prefix; default: the id in lower case. */
  streamPrefix?: string;
}

export interface ProcessTask {
  task: FargateTaskDefinition;
  container: ContainerDefinition;
  logGroup: LogGroup;
}

/** One lease-costs process as a Fargate task definition, with its own log group, in `scope`. */
export function processTask(scope: Construct, streamPrefix: string, props: ProcessTaskProps): ProcessTask {
  const logGroup =
    props.logGroup ?? new LogGroup(scope, 'Logs', { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.RETAIN });
  const task = new FargateTaskDefinition(scope, 'Task', {
    cpu: props.cpu ?? 512,
    memoryLimitMiB: props.memoryLimitMiB ?? 1024,
    taskRole: props.taskRole,
    runtimePlatform: { cpuArchitecture: CpuArchitecture.X86_64, operatingSystemFamily: OperatingSystemFamily.LINUX },
  });
  const container = task.addContainer('Process', {
    image: props.image,
    command: props.command,
    environment: { LOG_LEVEL: 'INFO', ...props.environment } as Record<string, string>,
    secrets: props.secrets as Record<string, Secret>,
    logging: new AwsLogDriver({ logGroup, streamPrefix }),
    readonlyRootFilesystem: true,
    // Workers finish their current tasks and webhooks their requests on SIGTERM; ECS allows 120 s at most.
    stopTimeout: Duration.seconds(120),
    portMappings: props.containerPort ? [{ containerPort: props.containerPort }] : [],
  });
  // The root filesystem is read-only; tsx keeps its compile cache under /tmp, on task storage.
  task.addVolume({ name: 'tmp' });
  container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });
  acknowledge(task.obtainExecutionRole(), {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason: 'ecr:GetAuthorizationToken, which ECS needs to pull the image, has no resource-level permissions',
  });
  acknowledge(task, {
    id: 'AwsSolutions-ECS2',
    reason:
      'Only non-secret settings (names, URLs, ARNs) are plain environment variables; every secret comes from Secrets Manager',
  });
  return { task, container, logGroup };
}

/** One lease-costs process as a Fargate service: its own task role, log group and private subnets. */
export class ProcessService extends Construct {
  readonly service: FargateService;
  readonly container: ContainerDefinition;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ProcessServiceProps) {
    super(scope, id);
    const { task, container, logGroup } = processTask(this, props.streamPrefix ?? id.toLowerCase(), props);
    this.container = container;
    this.logGroup = logGroup;
    this.service = new FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: task,
      desiredCount: props.desiredCount,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      securityGroups: props.securityGroups,
      assignPublicIp: false,
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
  }
}
