import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledge cdk-nag findings on a construct and its children; every call site says why. An id
 * like `AwsSolutions-IAM5[Resource::…]` acknowledges one finding, not the whole rule.
 */
export function acknowledge(scope: IConstruct, ...findings: { id: string; reason: string }[]): void {
  Validations.of(scope).acknowledge(...findings);
}
