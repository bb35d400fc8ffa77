import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { STAGING_OBJECT_TAG } from '../../src/domain/storage';
import { acknowledge } from '../nag';

/** Staged Cost Explorer pages outlive any run still retrying; the report is built from them within hours. */
export const STAGED_PAGE_EXPIRY_DAYS = 14;

/** The report bucket: private, encrypted, TLS only; staged pages expire, reports stay. */
export class ReportBucket extends Construct {
  readonly bucket: Bucket;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: { keyPrefix: string },
  ) {
    super(scope, id);
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'expire-staged-pages',
          prefix: props.keyPrefix,
          tagFilters: { [STAGING_OBJECT_TAG.key]: STAGING_OBJECT_TAG.value },
          expiration: Duration.days(STAGED_PAGE_EXPIRY_DAYS),
        },
        { id: 'abort-incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
    });
    acknowledge(this.bucket, {
      id: 'AwsSolutions-S1',
      reason:
        'Reports are read only through signed links, each logged by the webhook; server access logs would need a second bucket and duplicate that',
    });
  }

  /** Every object the product writes or reads: the key prefix, nothing else in the bucket. */
  get objectsArn(): string {
    return this.bucket.arnForObjects(`${this.props.keyPrefix}*`);
  }
}
