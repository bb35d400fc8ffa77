import { describe, expect, it } from 'vitest';
import { COST_EXPLORER_ACTIONS, COST_READER_ROLE_NAME, WORKER_ROLE_NAME } from '../../infra/names';
import { cfnLint, iamStatements, resourcesOf, synthesize } from './synth';

const { management } = synthesize();

describe('management-account stack', () => {
  it('is one role, allowed only the two Cost Explorer reads', () => {
    expect(Object.values(management.json.Resources).map((r) => r.Type)).toEqual(['AWS::IAM::Role']);
    const [[, role]] = resourcesOf(management, 'AWS::IAM::Role') as [[string, Record<string, any>]];
    expect(role.RoleName).toBe(COST_READER_ROLE_NAME);
    expect(role.ManagedPolicyArns).toBeUndefined();
    const statements = iamStatements(management);
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatchObject({ Effect: 'Allow', Action: COST_EXPLORER_ACTIONS, Resource: '*' });
  });

  it('is trusted only by the hub worker role, and only with the external id', () => {
    const [[, role]] = resourcesOf(management, 'AWS::IAM::Role') as [[string, Record<string, any>]];
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Action: 'sts:AssumeRole',
        Principal: {
          AWS: {
            'Fn::Join': [
              '',
              ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'HubAccountId' }, `:role/${WORKER_ROLE_NAME}`],
            ],
          },
        },
        Condition: { StringEquals: { 'sts:ExternalId': { Ref: 'ExternalId' } } },
      },
    ]);
    management.template.hasParameter('HubAccountId', { AllowedPattern: '^\\d{12}$' });
    management.template.hasParameter('ExternalId', { NoEcho: true });
  });

  it('passes cdk-nag AwsSolutions with no errors or warnings left', () => {
    expect(management.nag).toEqual([]);
  });

  it('passes cfn-lint with no errors', async () => {
    const findings = await cfnLint([management.templatePath]);
    expect(findings.filter((f) => f.Level === 'Error')).toEqual([]);
  });
});
