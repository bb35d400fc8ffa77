import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Stack } from 'aws-cdk-lib';
import { buildApp } from '../../infra/app';
import { toolPath } from '../../support/tools';

export interface Synthesized {
  template: Template;
  json: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
  templatePath: string;
  /** cdk-nag AwsSolutions findings left after the acknowledgements in infra/ (empty with `nag: false`). */
  nag: { severity: string; rule: string; paths: string[] }[];
}

/**
 * Both stacks, synthesized once, offline: no lookups, and the image asset is only staged (Docker
 * runs at deploy time). CDK's built-in template validation is off: cfn-lint does that job here.
 */
export function synthesize(
  context: Record<string, string> = {},
  opts: { nag?: boolean } = {},
): { management: Synthesized; hub: Synthesized } {
  const outdir = mkdtempSync(join(tmpdir(), 'lease-costs-cdk-'));
  const app = new App({ outdir, context, builtinCloudFormationValidation: false });
  const stacks = buildApp(app);
  const nagPack = new AwsSolutionsChecks(app);
  const one = (stack: Stack): Synthesized => {
    const template = Template.fromStack(stack);
    const nag =
      opts.nag === false
        ? []
        : nagPack.validateScope(stack).violations.map((v) => ({
            severity: v.severity ?? 'error',
            rule: v.ruleName,
            paths: v.violatingResources.map((r) => r.constructPath ?? ''),
          }));
    return {
      template,
      json: template.toJSON() as Synthesized['json'],
      templatePath: join(outdir, stack.templateFile),
      nag,
    };
  };
  return { management: one(stacks.management), hub: one(stacks.hub) };
}

export interface LintFinding {
  Level: string;
  Rule: { Id: string };
  Message: string;
  Filename: string;
}

/** cfn-lint (pinned in scripts/setup-tools.sh) on synthesized templates. */
export async function cfnLint(templatePaths: string[]): Promise<LintFinding[]> {
  // cfn-lint's exit code is a bit mask of the levels found: the JSON on stdout is the answer.
  const { stdout } = await promisify(execFile)(toolPath('cfn-lint'), [
    '--format',
    'json',
    '--',
    ...templatePaths,
  ]).catch((err: { stdout?: string; code?: number }) => {
    if (typeof err.stdout === 'string' && err.stdout.trim().startsWith('[')) return { stdout: err.stdout };
    throw err;
  });
  return JSON.parse(stdout) as LintFinding[];
}

/** Every resource of a type, as [logicalId, properties]. */
export function resourcesOf(s: Synthesized, type: string): [string, Record<string, any>][] {
  return Object.entries(s.json.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id, r]) => [id, r.Properties ?? {}]);
}

/** Every IAM statement of the stack, inline policies of roles and standalone policies alike. */
export function iamStatements(
  s: Synthesized,
): { owner: string; Action: string | string[]; Resource: unknown; Effect: string }[] {
  const fromDoc = (owner: string, doc: { Statement: any[] }) => doc.Statement.map((st) => ({ owner, ...st }));
  return [
    ...resourcesOf(s, 'AWS::IAM::Role').flatMap(([id, p]) =>
      (p.Policies ?? []).flatMap((pol: any) => fromDoc(id, pol.PolicyDocument)),
    ),
    ...resourcesOf(s, 'AWS::IAM::Policy').flatMap(([id, p]) =>
      fromDoc(id, p.PolicyDocument).map((st) => ({ ...st, owner: p.Roles?.[0]?.Ref ?? id })),
    ),
  ];
}

export const asList = <T>(x: T | T[]): T[] => (Array.isArray(x) ? x : [x]);
