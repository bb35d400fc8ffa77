import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app';
import { cfnLint, iamStatements, resourcesOf, synthesize } from './synth';
import { describeTaskStarts } from './task-config';

// The hub with `-c intake=sqs -c temporalApiKey=false -c workerBuilds=…`: events reach a queue that
// `lease-costs intake` reads, the Temporal cluster takes no API key (self-hosted), and two worker
// builds run side by side (a rainbow deployment): an older one from its image in ECR, by digest,
// and the newest from this checkout.
const OLD_BUILD = {
  buildId: '0.1.0-3f9c2ab',
  image: `222222222222.dkr.ecr.eu-west-2.amazonaws.com/lease-costs@sha256:${'3f'.repeat(32)}`,
};
const NEW_BUILD = { buildId: '0.2.0-4a1b2c3' };
const { hub } = synthesize({
  intake: 'sqs',
  temporalApiKey: 'false',
  workerBuilds: JSON.stringify([OLD_BUILD, NEW_BUILD]),
});
const queues = resourcesOf(hub, 'AWS::SQS::Queue');
const [[queueId]] = queues.filter(([, p]) => p.RedrivePolicy) as [[string, Record<string, any>]];

describe('hub stack with the SQS intake', () => {
  it('delivers LeaseTerminated to a queue with retries, a target DLQ, and a DLQ after 5 receives', () => {
    expect(resourcesOf(hub, 'AWS::Events::ApiDestination')).toEqual([]);
    expect(resourcesOf(hub, 'AWS::Events::Connection')).toEqual([]);
    expect(queues).toHaveLength(3);
    const [[, rule]] = resourcesOf(hub, 'AWS::Events::Rule').filter(
      ([, p]) => p.EventPattern['detail-type'][0] === 'LeaseTerminated',
    ) as [[string, Record<string, any>]];
    expect(rule.EventPattern).toEqual({
      source: [{ prefix: 'InnovationSandbox-' }, 'isb'],
      'detail-type': ['LeaseTerminated'],
    });
    expect(rule.Targets[0]).toMatchObject({
      Arn: { 'Fn::GetAtt': [queueId, 'Arn'] },
      RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      DeadLetterConfig: { Arn: { 'Fn::GetAtt': [expect.any(String), 'Arn'] } },
    });
    const [, queue] = queues.find(([id]) => id === queueId)!;
    expect(queue.RedrivePolicy.maxReceiveCount).toBe(5);
    for (const [id, p] of queues) {
      expect(p.SqsManagedSseEnabled, id).toBe(true);
    }
  });

  it('runs `lease-costs intake --queue-url` with a role that may only consume that queue', () => {
    const [[, task]] = resourcesOf(hub, 'AWS::ECS::TaskDefinition').filter(
      ([, p]) => p.ContainerDefinitions[0].Command[0] === 'intake',
    ) as [[string, Record<string, any>]];
    expect(task.ContainerDefinitions[0].Command).toEqual(['intake', '--queue-url', { Ref: queueId }]);
    const roleId = task.TaskRoleArn['Fn::GetAtt'][0];
    expect(
      iamStatements(hub)
        .filter((s) => s.owner === roleId)
        .map(({ owner: _, ...s }) => s),
    ).toEqual([
      {
        Effect: 'Allow',
        Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
      },
    ]);
    expect(resourcesOf(hub, 'AWS::ECS::Service')).toHaveLength(4);
  });

  it('reads the Temporal address and namespace from the secret, and no API key', () => {
    for (const [, task] of resourcesOf(hub, 'AWS::ECS::TaskDefinition')) {
      const names = task.ContainerDefinitions[0].Secrets.map((s: { Name: string }) => s.Name);
      expect(names).toEqual(expect.arrayContaining(['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']));
      expect(names).not.toContain('TEMPORAL_API_KEY');
    }
  });

  it("alarms on both dead-letter queues and on missing tasks of each service, each worker build's included", () => {
    const alarms = resourcesOf(hub, 'AWS::CloudWatch::Alarm').map(([, p]) => p);
    expect(alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible')).toHaveLength(2);
    expect(
      alarms.filter((a) => a.Metrics?.some((m: any) => m.MetricStat?.Metric.MetricName === 'RunningTaskCount')),
    ).toHaveLength(4);
  });

  it('passes cdk-nag AwsSolutions and cfn-lint with no errors', async () => {
    expect(hub.nag).toEqual([]);
    const findings = await cfnLint([hub.templatePath]);
    expect(findings.filter((f) => f.Level === 'Error')).toEqual([]);
  });
});

describe('hub stack with two worker builds', () => {
  const tasks = resourcesOf(hub, 'AWS::ECS::TaskDefinition').map(([id, t]) => ({
    id,
    task: t,
    container: t.ContainerDefinitions[0],
  }));
  const workers = tasks.filter((t) => t.container.Command[0] === 'worker');
  const buildOf = (t: (typeof tasks)[number]) =>
    t.container.Environment.find((e: { Name: string }) => e.Name === 'TEMPORAL_WORKER_BUILD_ID')?.Value;
  const services = resourcesOf(hub, 'AWS::ECS::Service').map(([, p]) => p);

  it('runs one worker service per build, each with its own build id and image; only the newest sets up the namespace', () => {
    expect(workers.map(buildOf)).toEqual([OLD_BUILD.buildId, NEW_BUILD.buildId]);
    for (const w of workers)
      expect(
        services.filter((p) => p.TaskDefinition.Ref === w.id),
        w.id,
      ).toHaveLength(1);
    const [old, newest] = workers;
    expect(old!.container.Image).toEqual({
      'Fn::Join': [
        '',
        ['222222222222.dkr.ecr.eu-west-2.', { Ref: 'AWS::URLSuffix' }, `/lease-costs@${OLD_BUILD.image.split('@')[1]}`],
      ],
    });
    expect(JSON.stringify(newest!.container.Image)).toContain('container-assets-');
    expect([old!.container.Command, newest!.container.Command]).toEqual([['worker'], ['worker', '--setup']]);
    // The webhook, the intake and the operator task run the newest build's image.
    for (const t of tasks.filter((x) => x.container.Command[0] !== 'worker'))
      expect(t.container.Image, t.id).toEqual(newest!.container.Image);
    const outputs = hub.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    expect(outputs.NewestWorkerBuildId!.Value).toBe(NEW_BUILD.buildId);
  });

  it("lets the older build's tasks pull from its ECR repository only", () => {
    const executionRole = workers[0]!.task.ExecutionRoleArn['Fn::GetAtt'][0] as string;
    const pulls = iamStatements(hub).filter(
      (st) => st.owner === executionRole && String(st.Action).includes('ecr:BatchGetImage'),
    );
    expect(pulls.map(({ owner: _, ...st }) => st)).toEqual([
      {
        Effect: 'Allow',
        Action: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        Resource: {
          'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':ecr:eu-west-2:222222222222:repository/lease-costs']],
        },
      },
    ]);
  });

  it('shares one log group (the FailedRuns filter reads it) and one security group (the ledger admits it) across builds', () => {
    const groups = new Set(workers.map((w) => JSON.stringify(w.container.LogConfiguration.Options['awslogs-group'])));
    expect(groups.size).toBe(1);
    expect(workers.map((w) => w.container.LogConfiguration.Options['awslogs-stream-prefix'])).toEqual([
      `worker-${OLD_BUILD.buildId}`,
      `worker-${NEW_BUILD.buildId}`,
    ]);
    const [filter] = resourcesOf(hub, 'AWS::Logs::MetricFilter').map(([, p]) => p);
    expect(JSON.stringify(filter!.LogGroupName)).toBe([...groups][0]);
    const securityGroups = new Set(
      services
        .filter((p) => workers.some((w) => w.id === p.TaskDefinition.Ref))
        .map((p) => JSON.stringify(p.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups)),
    );
    expect(securityGroups.size).toBe(1);
  });
});

describe('context workerBuilds', () => {
  const refused = (workerBuilds: unknown) => () =>
    buildApp(new App({ context: { workerBuilds: JSON.stringify(workerBuilds) } }));
  const ecr = (ref: string) => `222222222222.dkr.ecr.eu-west-2.amazonaws.com/lease-costs${ref}`;

  it('refuses a list the stack cannot run safely, saying why', () => {
    expect(() => buildApp(new App({ context: { workerBuilds: 'one,two' } }))).toThrow(
      'context workerBuilds must be a JSON array of {"buildId", "image"}, not one,two',
    );
    expect(refused([])).toThrow('workerBuilds lists no build');
    expect(refused([{}, { buildId: 'b' }])).toThrow('only one build may come from this checkout');
    expect(refused([{ image: ecr(':0.1.0') }])).toThrow('workerBuilds[0]: an image needs its build id');
    expect(refused([{ buildId: 'a', image: 'docker.io/library/node:24' }])).toThrow(
      'workerBuilds[0]: image must be a private ECR image with a tag or digest',
    );
    expect(refused([{ buildId: 'a', image: ecr('') }])).toThrow(
      'workerBuilds[0]: image must be a private ECR image with a tag or digest',
    );
    expect(refused([{ buildId: 'a', image: ecr(':latest') }])).toThrow('"latest" moves');
    expect(
      refused([
        { buildId: 'a', image: ecr(':a') },
        { buildId: 'a', image: ecr(':b') },
      ]),
    ).toThrow('build id "a" is listed twice');
    expect(refused([{ buildId: '.a', image: ecr(':a') }])).toThrow('build id ".a" must be 1..100 letters');
    expect(refused([{ buildId: 'a', image: ecr(':a'), count: 2 }])).toThrow('Unrecognized key');
  });
});

describeTaskStarts(hub, { intake: 'sqs' });
