import { CfnParameter } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

const ACCOUNT = { allowedPattern: '^\\d{12}$', constraintDescription: 'a 12-digit AWS account id' };
const ARN = (service: string) => ({
  allowedPattern: `^arn:aws[a-z-]*:${service}:.+$`,
  constraintDescription: `an ${service} ARN`,
});

/** What an operator supplies at `cdk deploy --parameters …`; see README "Deploying on AWS". */
export function hubParameters(scope: Construct) {
  const p = (id: string, props: ConstructorParameters<typeof CfnParameter>[2]) =>
    new CfnParameter(scope, id, props).valueAsString;
  return {
    managementAccountId: p('ManagementAccountId', {
      description: 'Account id of the management (payer) account with the Cost Explorer role',
      ...ACCOUNT,
    }),
    costExplorerExternalId: p('CostExplorerExternalId', {
      description: "External id of the Cost Explorer role (the management stack's ExternalId)",
      allowedPattern: '^[\\w+=,.@:/-]{16,1224}$',
      constraintDescription: '16 to 1224 characters of letters, digits and +=,.@:/-',
      noEcho: true,
    }),
    alarmEmail: p('AlarmEmail', {
      description: 'E-mail address the alarms are sent to (confirm the subscription)',
      allowedPattern: '^[^@\\s]+@[^@\\s]+$',
    }),
    isbEventBusArn: p('IsbEventBusArn', {
      description: 'ARN of the ISB event bus in this account and region',
      ...ARN('events'),
    }),
    isbApiBaseUrl: p('IsbApiBaseUrl', { description: 'Base URL of the ISB API', allowedPattern: '^https://.+$' }),
    isbJwtSecretArn: p('IsbJwtSecretArn', {
      description: 'ARN of the ISB JWT signing secret',
      ...ARN('secretsmanager'),
    }),
    // The ISB encrypts that secret with its own customer-managed key (rest-api-all.ts:
    // `encryptionKey: IsbKmsKeys.get(...)`): reading it needs kms:Decrypt on that key.
    isbKmsKeyArn: p('IsbKmsKeyArn', {
      description:
        'ARN of the ISB KMS key that encrypts the JWT secret (alias AwsSolutions/InnovationSandbox/<namespace>/...)',
      allowedPattern: '^arn:aws[a-z-]*:kms:[a-z0-9-]+:\\d{12}:key/[0-9a-f-]+$',
      constraintDescription: 'a KMS key ARN (arn:…:kms:<region>:<account>:key/<key id>), not an alias',
    }),
    temporalSecretArn: p('TemporalSecretArn', {
      description: 'ARN of a secret with JSON keys address, namespace and apiKey (the Temporal connection)',
      ...ARN('secretsmanager'),
    }),
    payloadEncryptionKeysSecretArn: p('PayloadEncryptionKeysSecretArn', {
      description:
        'ARN of a secret holding PAYLOAD_ENCRYPTION_KEYS (id:base64 32-byte key, newest first): workflow payloads are encrypted with it',
      ...ARN('secretsmanager'),
    }),
    webhookDomainName: p('WebhookDomainName', {
      description: "DNS name of the webhook (the certificate's); point it at the LoadBalancerDnsName output",
    }),
    certificateArn: p('CertificateArn', {
      description: 'ACM certificate for WebhookDomainName, in this region',
      ...ARN('acm'),
    }),
    reportKeyPrefix: p('ReportKeyPrefix', {
      description: 'S3 key prefix of reports and staged pages',
      default: 'reports/',
      allowedPattern: "^([A-Za-z0-9!_.*'()-]+/)*$",
      constraintDescription: 'empty, or path segments each ending in /',
    }),
    workerCount: new CfnParameter(scope, 'WorkerCount', {
      type: 'Number',
      default: 2,
      minValue: 1,
      maxValue: 20,
      description: 'Worker tasks',
    }).valueAsNumber,
    webhookCount: new CfnParameter(scope, 'WebhookCount', {
      type: 'Number',
      default: 2,
      minValue: 1,
      maxValue: 10,
      description: 'Webhook tasks',
    }).valueAsNumber,
  };
}
export type HubParameters = ReturnType<typeof hubParameters>;
