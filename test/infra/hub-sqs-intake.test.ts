import { describe, expect, it } from 'vitest';
import { cfnLint, iamStatements, resourcesOf, synthesize } from './synth';
import { describeTaskStarts } from './task-config';

// The hub with `-c intake=sqs -c temporalApiKey=false`: events reach a queue that `lease-costs intake`
// reads, and the Temporal cluster takes no API key (self-hosted).
const { hub } = synthesize({ intake: 'sqs', temporalApiKey: 'false' });
const queues = resourcesOf(hub, 'AWS::SQS::Queue');
const [[queueId]] = queues.filter(([, p]) => p.RedrivePolicy) as [[string, Record<string, any>]];

describe('hub stack with the SQS intake', () => {
  it('delivers LeaseTerminated to a queue with retries, a target DLQ, and a DLQ after 5 receives', () => {
    expect(resourcesOf(hub, 'AWS::Events::ApiDestination')).toEqual([]);
    expect(resourcesOf(hub, 'AWS::Events::Connection')).toEqual([]);
    expect(queues).toHaveLength(3);
    const [[, rule]] = resourcesOf(hub, 'AWS::Events::Rule').filter(([, p]) => p.EventPattern['detail-type'][0] === 'LeaseTerminated') as [[string, Record<string, any>]];
    expect(rule.EventPattern).toEqual({ source: [{ prefix: 'InnovationSandbox-' }, 'isb'], 'detail-type': ['LeaseTerminated'] });
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
    const [[, task]] = resourcesOf(hub, 'AWS::ECS::TaskDefinition')
      .filter(([, p]) => p.ContainerDefinitions[0].Command[0] === 'intake') as [[string, Record<string, any>]];
    expect(task.ContainerDefinitions[0].Command).toEqual(['intake', '--queue-url', { Ref: queueId }]);
    const roleId = task.TaskRoleArn['Fn::GetAtt'][0];
    expect(iamStatements(hub).filter((s) => s.owner === roleId).map(({ owner: _, ...s }) => s)).toEqual([{
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      Resource: { 'Fn::GetAtt': [queueId, 'Arn'] },
    }]);
    expect(resourcesOf(hub, 'AWS::ECS::Service')).toHaveLength(3);
  });

  it('reads the Temporal address and namespace from the secret, and no API key', () => {
    for (const [, task] of resourcesOf(hub, 'AWS::ECS::TaskDefinition')) {
      const names = task.ContainerDefinitions[0].Secrets.map((s: { Name: string }) => s.Name);
      expect(names).toEqual(expect.arrayContaining(['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']));
      expect(names).not.toContain('TEMPORAL_API_KEY');
    }
  });

  it('alarms on both dead-letter queues and on missing intake tasks', () => {
    const alarms = resourcesOf(hub, 'AWS::CloudWatch::Alarm').map(([, p]) => p);
    expect(alarms.filter((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible')).toHaveLength(2);
    expect(alarms.filter((a) => a.Metrics?.some((m: any) => m.MetricStat?.Metric.MetricName === 'RunningTaskCount'))).toHaveLength(3);
  });

  it('passes cdk-nag AwsSolutions and cfn-lint with no errors', async () => {
    expect(hub.nag).toEqual([]);
    const findings = await cfnLint([hub.templatePath]);
    expect(findings.filter((f) => f.Level === 'Error')).toEqual([]);
  });
});

describeTaskStarts(hub, { intake: 'sqs' });
