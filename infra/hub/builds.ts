import { Stack } from 'aws-cdk-lib';
import { DockerImageAsset, Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { Repository } from 'aws-cdk-lib/aws-ecr';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import { z } from 'zod';
import { ConfigSchema } from '../../src/infrastructure/config';
import { REPO_ROOT } from '../names';

/**
 * One worker build as context `workerBuilds` lists it: a build id and the image it names for ever.
 * No image: this checkout's Dockerfile, built at deploy time; its build id defaults to the image's
 * tag (the asset hash), so different code never runs under one id.
 */
const BuildSpec = z
  .object({
    buildId: z.string().optional(),
    image: z.string().optional(),
  })
  .strict();
export type WorkerBuildSpec = z.infer<typeof BuildSpec>;
const BuildSpecs = z.array(BuildSpec);

/** The one build when no context is given: this checkout, its build id the image's tag. */
export const DEFAULT_WORKER_BUILDS: WorkerBuildSpec[] = [{}];

/**
 * An image in a private ECR repository, by tag or digest (the `image` of the WorkerBuilds output,
 * or one CI pushed). ECR only: the task's execution role is granted pull on exactly that repository.
 */
const ECR_IMAGE =
  /^(?<account>\d{12})\.dkr\.ecr\.(?<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/(?<repository>(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)(?::(?<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?<digest>sha256:[a-f0-9]{64}))$/;

/** A worker build the stack runs a service for. */
export interface WorkerBuild {
  buildId: string;
  image: ContainerImage;
  /** The image's URI as `workerBuilds` takes it back (a token for this checkout's image). */
  imageUri: string;
}

/** The context value: a JSON array (from `-c workerBuilds='[…]'`), or the array itself. */
export function parseWorkerBuilds(raw: unknown): WorkerBuildSpec[] {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new Error(`context workerBuilds must be a JSON array of {"buildId", "image"}, not ${raw}`);
    }
  }
  const parsed = BuildSpecs.safeParse(value);
  if (!parsed.success)
    throw new Error(
      `context workerBuilds must be a JSON array of {"buildId", "image"}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

const checkBuildId = (buildId: string) => {
  const parsed = ConfigSchema.shape.TEMPORAL_WORKER_BUILD_ID.safeParse(buildId);
  if (!parsed.success || parsed.data === undefined) {
    throw new Error(
      `workerBuilds: build id "${buildId}" ${parsed.success ? 'is empty' : parsed.error.issues[0]!.message}`,
    );
  }
  return parsed.data;
};

/**
 * The builds, oldest first, each with its image. At most one comes from this checkout. A listed
 * image whose build id and tag are this checkout's (the last deploy's output passed back with `{}`
 * added, when nothing changed) is the same build, listed once.
 */
export function resolveWorkerBuilds(scope: Construct, specs: WorkerBuildSpec[]): WorkerBuild[] {
  if (specs.length === 0) throw new Error('workerBuilds lists no build: the stack needs at least one worker build');
  const fromCheckout = specs.filter((s) => s.image === undefined);
  if (fromCheckout.length > 1)
    throw new Error(
      'workerBuilds: only one build may come from this checkout (no "image"); give the others the image they were deployed with',
    );
  const asset =
    fromCheckout.length === 1
      ? new DockerImageAsset(scope, 'Image', {
          directory: REPO_ROOT,
          platform: Platform.LINUX_AMD64,
          exclude: ['cdk.out', '**/cdk.out'],
        })
      : undefined;

  const checkoutBuildId = asset && checkBuildId(fromCheckout[0]!.buildId ?? asset.imageTag);

  const builds: WorkerBuild[] = [];
  for (const [i, spec] of specs.entries()) {
    if (spec.image === undefined) {
      builds.push({
        buildId: checkoutBuildId!,
        image: ContainerImage.fromDockerImageAsset(asset!),
        imageUri: asset!.imageUri,
      });
      continue;
    }
    if (spec.buildId === undefined)
      throw new Error(`workerBuilds[${i}]: an image needs its build id (the one its workers ran with)`);
    const buildId = checkBuildId(spec.buildId);
    const m = ECR_IMAGE.exec(spec.image)?.groups;
    if (!m)
      throw new Error(
        `workerBuilds[${i}]: image must be a private ECR image with a tag or digest (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> or @sha256:<digest>), not ${spec.image}`,
      );
    if (m.tag === 'latest')
      throw new Error(`workerBuilds[${i}]: "latest" moves; name the image by its own tag or digest`);
    if (asset && buildId === checkoutBuildId && m.tag === asset.imageTag) continue;
    const repository = Repository.fromRepositoryAttributes(scope, `Repository${i}`, {
      repositoryName: m.repository!,
      repositoryArn: Stack.of(scope).formatArn({
        service: 'ecr',
        account: m.account,
        region: m.region,
        resource: 'repository',
        resourceName: m.repository,
      }),
    });
    builds.push({
      buildId,
      image: ContainerImage.fromEcrRepository(repository, m.tag ?? m.digest),
      imageUri: spec.image,
    });
  }
  const seen = new Set<string>();
  for (const { buildId } of builds) {
    if (seen.has(buildId))
      throw new Error(`workerBuilds: build id "${buildId}" is listed twice; a build id names one image`);
    seen.add(buildId);
  }
  return builds;
}
