import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { SubnetType } from 'aws-cdk-lib/aws-ec2';
import {
  AwsLogDriver, type Cluster, type ContainerDefinition, type ContainerImage, CpuArchitecture, FargateService,
  FargateTaskDefinition, OperatingSystemFamily, type Secret,
} from 'aws-cdk-lib/aws-ecs';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Config } from '../../src/infrastructure/config';
import { acknowledge } from '../nag';

/** How long process logs are kept. */
export const LOG_RETENTION = RetentionDays.THREE_MONTHS;

export interface ProcessServiceProps {
  cluster: Cluster;
  image: ContainerImage;
  /** `lease-costs <command…>` */
  command: string[];
  taskRole: IRole;
  /** Non-secret settings; names are checked against the config schema. */
  environment: Partial<Record<keyof Config | 'LOG_LEVEL', string>>;
  secrets: Partial<Record<keyof Config, Secret>>;
  desiredCount: number;
  cpu?: number;
  memoryLimitMiB?: number;
  containerPort?: number;
}

/** One lease-costs process as a Fargate service: its own task role, log group and private subnets. */
export class ProcessService extends Construct {
  readonly service: FargateService;
  readonly container: ContainerDefinition;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ProcessServiceProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', { retention: LOG_RETENTION, removalPolicy: RemovalPolicy.RETAIN });
    const task = new FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu ?? 512,
      memoryLimitMiB: props.memoryLimitMiB ?? 1024,
      taskRole: props.taskRole,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.X86_64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    this.container = task.addContainer('Process', {
      image: props.image,
      command: props.command,
      environment: { LOG_LEVEL: 'INFO', ...props.environment } as Record<string, string>,
      secrets: props.secrets as Record<string, Secret>,
      logging: new AwsLogDriver({ logGroup: this.logGroup, streamPrefix: id.toLowerCase() }),
      readonlyRootFilesystem: true,
      // Workers finish their current tasks and webhooks their requests on SIGTERM; ECS allows 120 s at most.
      stopTimeout: Duration.seconds(120),
      portMappings: props.containerPort ? [{ containerPort: props.containerPort }] : [],
    });
    // The root filesystem is read-only; tsx keeps its compile cache under /tmp, on task storage.
    task.addVolume({ name: 'tmp' });
    this.container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });
    this.service = new FargateService(this, 'Service', {
      cluster: props.cluster,
      taskDefinition: task,
      desiredCount: props.desiredCount,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      minHealthyPercent: 100,
      circuitBreaker: { rollback: true },
    });
    acknowledge(task.obtainExecutionRole(), {
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken, which ECS needs to pull the image, has no resource-level permissions',
    });
    acknowledge(task, {
      id: 'AwsSolutions-ECS2',
      reason: 'Only non-secret settings (names, URLs, ARNs) are plain environment variables; every secret comes from Secrets Manager',
    });
  }
}
