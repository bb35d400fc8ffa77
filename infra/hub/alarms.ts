import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  Metric,
  type IMetric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { FargateService } from 'aws-cdk-lib/aws-ecs';
import { type IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { HttpCodeTarget, type ApplicationTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { FilterPattern, type ILogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { EVENT_SOURCE, FAILURE_DETAIL_TYPE } from '../../src/domain/events';
import { WORKFLOW_TYPE } from '../../src/infrastructure/client';
import { LIVENESS_PATH } from '../../src/interfaces/webhook-server';

export const METRIC_NAMESPACE = 'LeaseCosts';
/**
 * The SDK's workflow logger says this at warn, once per run that fails for good (never during
 * replay): @temporalio/workflow lib/logs.js. Our pino lines carry the message as `msg`.
 */
const WORKFLOW_FAILED_MESSAGE = 'Workflow failed';

export interface AlarmsProps {
  topic: ITopic;
  workerLogGroup: ILogGroup;
  /** Where the worker puts LeaseCostsFailed (EVENT_BUS_NAME). */
  eventBus: IEventBus;
  deadLetterQueues: Queue[];
  webhookTargets: ApplicationTargetGroup;
  services: Record<string, FargateService>;
}

/** What an operator must hear about, each alarm to the one SNS topic (and back when it clears). */
export class LeaseCostsAlarms extends Construct {
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    const action = new SnsAction(props.topic);
    const alarm = (
      alarmId: string,
      description: string,
      metric: IMetric,
      opts: { threshold?: number; periods?: number } = {},
    ) => {
      const a = new Alarm(this, alarmId, {
        alarmDescription: description,
        metric,
        threshold: opts.threshold ?? 1,
        evaluationPeriods: opts.periods ?? 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      a.addOkAction(action);
      this.alarms.push(a);
    };

    // 1. Runs that failed for good: the worker's "Workflow failed" log line for the lease workflow.
    const failedRuns = new MetricFilter(this, 'FailedRunsFilter', {
      logGroup: props.workerLogGroup,
      filterPattern: FilterPattern.all(
        FilterPattern.stringValue('$.msg', '=', WORKFLOW_FAILED_MESSAGE),
        FilterPattern.stringValue('$.workflowType', '=', WORKFLOW_TYPE),
      ),
      metricNamespace: METRIC_NAMESPACE,
      metricName: 'FailedRuns',
      metricValue: '1',
    });
    alarm(
      'FailedRuns',
      `A ${WORKFLOW_TYPE} run failed for good: see the worker logs and Temporal UI, then 'lease-costs rerun'`,
      failedRuns.metric({ statistic: 'Sum', period: Duration.minutes(5) }),
    );

    // The run's own LeaseCostsFailed event, to the same topic: it names the lease, the account, the
    // error and the workflow, which the alarm (a count) cannot.
    new Rule(this, 'FailedRunEvents', {
      description: `${FAILURE_DETAIL_TYPE} events from lease-costs to the alarm topic`,
      eventBus: props.eventBus,
      eventPattern: { source: [EVENT_SOURCE], detailType: [FAILURE_DETAIL_TYPE] },
      // The whole event as the message: every field survives, whatever characters the error has.
      targets: [new SnsTopic(props.topic)],
    });

    // 2. Anything in a dead-letter queue: an event that never reached lease-costs.
    props.deadLetterQueues.forEach((queue, i) =>
      alarm(
        `DeadLetters${i + 1}`,
        'LeaseTerminated events are in a dead-letter queue: fix the cause, then redrive them',
        queue.metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum', period: Duration.minutes(5) }),
      ),
    );

    // 3. The webhook answering 5xx (503 = Temporal unreachable), or targets failing liveness.
    alarm(
      'Webhook5xx',
      'The webhook answered 5xx (503 means Temporal is unreachable); EventBridge retries meanwhile',
      props.webhookTargets.metrics.httpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT, {
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      { threshold: 5 },
    );
    alarm(
      'WebhookUnhealthy',
      `A webhook task fails its health check (${LIVENESS_PATH}: the process does not answer)`,
      props.webhookTargets.metrics.unhealthyHostCount({ statistic: 'Maximum', period: Duration.minutes(1) }),
      { periods: 3 },
    );

    // 4. Fewer tasks running than desired, per service (Container Insights), for 5 minutes in a row.
    for (const [name, service] of Object.entries(props.services)) {
      const insight = (metricName: string) =>
        new Metric({
          namespace: 'ECS/ContainerInsights',
          metricName,
          statistic: 'Average',
          period: Duration.minutes(1),
          dimensionsMap: { ClusterName: service.cluster.clusterName, ServiceName: service.serviceName },
        });
      alarm(
        `${name}BelowDesired`,
        `The ${name} service runs fewer tasks than desired (crashing, or unable to start)`,
        new MathExpression({
          label: `${name} tasks missing`,
          expression: 'desired - running',
          usingMetrics: { desired: insight('DesiredTaskCount'), running: insight('RunningTaskCount') },
          period: Duration.minutes(1),
        }),
        { periods: 5 },
      );
    }
  }
}
