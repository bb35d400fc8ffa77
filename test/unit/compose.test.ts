import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parse as parseDotenv } from 'dotenv';
import { ConfigSchema, loadConfig, type Config, type Settings } from '../../src/infrastructure/config';
import { SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { buildCli } from '../../src/interfaces/cli';

// No Docker engine runs these files in CI, so their wiring is checked against the real config
// schema instead: each check recomputes what the container will see and listen on.

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (f: string) => readFileSync(join(root, f), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  entrypoint?: string | string[];
  env_file?: string | (string | { path: string })[];
  environment?: Record<string, unknown> | string[];
  ports?: (string | number | { target: number; published?: string | number })[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  volumes?: string[];
  profiles?: string[];
  read_only?: boolean;
  tmpfs?: string | string[];
}
const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, Service> };
const services = compose.services;
const service = (name: string): Service => {
  const s = services[name];
  if (!s) throw new Error(`docker-compose.yml has no service ${name}`);
  return s;
};

const envExampleText = read('.env.example');
const envExample = parseDotenv(envExampleText);

function environmentOf(s: Service): Record<string, string> {
  const env = s.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v == null ? '' : String(v)]));
}

/** What the process sees: env_file (.env, stood in for by .env.example) overridden by environment. */
function containerEnv(name: string): Record<string, string> {
  const s = service(name);
  const files = s.env_file === undefined ? [] : Array.isArray(s.env_file) ? s.env_file : [s.env_file];
  const paths = files.map((f) => (typeof f === 'string' ? f : f.path));
  expect(paths, `${name} env_file`).toEqual(['.env']);
  return { ...envExample, ...environmentOf(s) };
}

const configOf = (name: 'worker' | 'webhook'): Config => loadConfig(containerEnv(name), [name]);

/** Container-side ports of a service's `ports:` entries (short or long syntax). */
function containerPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'object') return Number(p.target);
    const spec = String(p).replace(/\/(tcp|udp)$/, '');
    const target = spec.split(':').at(-1)!;
    expect(target, `port mapping ${p} must map one container port`).toMatch(/^\d+$/);
    return Number(target);
  });
}

const portOf = (hostPort: string) => Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
const hostOf = (hostPort: string) => hostPort.slice(0, hostPort.lastIndexOf(':'));

function healthcheckUrl(s: Service): URL {
  const test = [s.healthcheck?.test ?? []].flat().join(' ');
  const m = /https?:\/\/[^\s'"`)]+/.exec(test);
  if (!m) throw new Error(`healthcheck has no URL: ${test}`);
  return new URL(m[0]);
}

function dependsOn(s: Service): Record<string, string | undefined> {
  const d = s.depends_on ?? {};
  if (Array.isArray(d)) return Object.fromEntries(d.map((n) => [n, undefined]));
  return Object.fromEntries(Object.entries(d).map(([n, v]) => [n, v?.condition]));
}

/** One-shot services: something waits for them to exit successfully. */
const oneShot = new Set(
  Object.values(services).flatMap((s) =>
    Object.entries(dependsOn(s))
      .filter(([, c]) => c === 'service_completed_successfully')
      .map(([n]) => n),
  ),
);
const longRunning = Object.keys(services).filter((n) => !oneShot.has(n));

const temporalService = Object.entries(services).find(([, s]) => /^temporalio\/server:/.test(s.image ?? ''));
const scriptOf = (s: Service) => [s.entrypoint ?? [], s.command ?? []].flat().join('\n').replaceAll('$$', '$');
const adminToolsServices = Object.entries(services).filter(([, s]) => /^temporalio\/admin-tools:/.test(s.image ?? ''));
/** The admin-tools one-shot that prepares the namespace; the other one sets up the database schema. */
const adminTools = adminToolsServices.find(([, s]) => scriptOf(s).includes('search-attribute create'));
const schemaSetup = adminToolsServices.find(([, s]) => scriptOf(s).includes('temporal-sql-tool'));
const uiService = Object.entries(services).find(([, s]) => /^temporalio\/ui:/.test(s.image ?? ''));
const tagOf = (s: Service) => s.image!.split(':')[1]!;

/** The admin-tools script, as the shell will see it after compose turns `$$` into `$`. */
function adminScript(): string {
  return scriptOf(adminTools![1]);
}

describe('.env.example', () => {
  it('documents every ConfigSchema variable, each under a comment line', () => {
    const lines = envExampleText.split('\n');
    for (const key of Object.keys(ConfigSchema.shape)) {
      const at = lines.findIndex((l) => new RegExp(`^(#\\s*)?${key}=`).test(l));
      expect(at, `${key} is missing from .env.example`).toBeGreaterThan(0);
      const above = lines[at - 1]!;
      expect(above.startsWith('#') && !/^#\s*[A-Z0-9_]+=/.test(above), `${key} needs a comment line above it`).toBe(
        true,
      );
    }
  });

  it('shows the schema default for every variable it leaves commented out', () => {
    const defaults = ConfigSchema.parse({});
    for (const m of envExampleText.matchAll(/^#\s*([A-Z0-9_]+)=(.*)$/gm)) {
      const key = m[1] as keyof Settings;
      if (!(key in ConfigSchema.shape)) continue;
      const dflt = defaults[key];
      expect(m[2], `commented ${key}`).toBe(dflt === undefined ? '' : String(dflt));
    }
  });

  it('uses only plain values, so compose env_file and dotenv read the same thing', () => {
    for (const line of envExampleText.split('\n')) {
      if (line === '' || line.startsWith('#')) continue;
      expect(line).toMatch(/^[A-Z][A-Z0-9_]*=[^\s'"#]*$/);
    }
  });

  it('gives the required worker and webhook settings values, and sets AWS_REGION', () => {
    expect(() => loadConfig(envExample, ['worker', 'webhook'])).not.toThrow();
    expect(envExample.AWS_REGION).toMatch(/^[a-z]{2}(-[a-z]+)+-\d$/);
  });

  it('is a template: .env itself stays out of git and out of the image', () => {
    expect(read('.gitignore').split('\n')).toContain('.env');
    expect(read('.dockerignore').split('\n')).toContain('.env');
  });
});

describe('docker-compose.yml', () => {
  it('gives the worker a configuration that passes loadConfig', () => {
    expect(() => configOf('worker')).not.toThrow();
  });

  it('gives the webhook a configuration that passes loadConfig', () => {
    expect(() => configOf('webhook')).not.toThrow();
  });

  it('runs the worker and webhook CLI commands from the image built here', () => {
    const known = buildCli().commands.map((c) => c.name());
    for (const name of ['worker', 'webhook'] as const) {
      const s = service(name);
      expect(s.build, `${name} build`).toBeDefined();
      expect([s.command].flat(), `${name} command`).toEqual([name]);
      expect(known).toContain(name);
    }
  });

  it('points TEMPORAL_ADDRESS of worker, webhook, UI and admin-tools at the temporal service', () => {
    expect(temporalService, 'a temporalio/server service').toBeDefined();
    const [tName, t] = temporalService!;
    const address = configOf('worker').TEMPORAL_ADDRESS;
    expect(hostOf(address)).toBe(tName);
    // The frontend's gRPC port; the same port is published for host-side CLIs.
    expect(containerPorts(t)).toContain(portOf(address));
    expect(configOf('webhook').TEMPORAL_ADDRESS).toBe(address);
    expect(environmentOf(uiService![1]).TEMPORAL_ADDRESS).toBe(address);
    const addresses = [...adminScript().matchAll(/--address[= ](\S+)/g)].map((m) => m[1]);
    expect(addresses.length).toBeGreaterThan(0);
    expect(new Set(addresses)).toEqual(new Set([address]));
    // The healthcheck probes the frontend port inside the container.
    expect([t.healthcheck?.test].flat().join(' ')).toMatch(new RegExp(`\\b${portOf(address)}\\b`));
  });

  it('has the webhook start workflows on the namespace and task queue the worker polls', () => {
    const worker = configOf('worker');
    const webhook = configOf('webhook');
    expect(webhook.TEMPORAL_NAMESPACE).toBe(worker.TEMPORAL_NAMESPACE);
    expect(webhook.TEMPORAL_TASK_QUEUE).toBe(worker.TEMPORAL_TASK_QUEUE);
  });

  it('publishes the webhook on the port and interface it listens on', () => {
    const cfg = configOf('webhook');
    const s = service('webhook');
    expect(containerPorts(s)).toEqual([cfg.WEBHOOK_PORT]);
    expect(['0.0.0.0', '::']).toContain(cfg.WEBHOOK_HOST);
    const url = healthcheckUrl(s);
    expect(Number(url.port)).toBe(cfg.WEBHOOK_PORT);
    expect(url.pathname).toBe('/healthz');
  });

  it('publishes the worker metrics on the port and interface it listens on', () => {
    const cfg = configOf('worker');
    const s = service('worker');
    expect(cfg.METRICS_BIND_ADDRESS, 'metrics must be on for the healthcheck').not.toBe('');
    expect(containerPorts(s)).toEqual([portOf(cfg.METRICS_BIND_ADDRESS)]);
    expect(['0.0.0.0', '[::]']).toContain(hostOf(cfg.METRICS_BIND_ADDRESS));
    const url = healthcheckUrl(s);
    expect(Number(url.port)).toBe(portOf(cfg.METRICS_BIND_ADDRESS));
    expect(url.pathname).toBe('/metrics');
  });

  it('publishes Temporal UI on 8233 from the port the UI listens on', () => {
    const [, ui] = uiService!;
    const listens = Number(environmentOf(ui).TEMPORAL_UI_PORT ?? 8080);
    expect(containerPorts(ui)).toEqual([listens]);
    expect((ui.ports ?? []).map(String)).toContain(`127.0.0.1:8233:${listens}`);
    expect(Number(healthcheckUrl(ui).port)).toBe(listens);
  });

  it('gives every long-running service a healthcheck and a restart policy', () => {
    expect(longRunning.length).toBeGreaterThanOrEqual(6);
    for (const name of longRunning) {
      const hc = service(name).healthcheck;
      expect(hc?.disable, `${name} healthcheck disabled`).not.toBe(true);
      expect([hc?.test ?? []].flat().length, `${name} healthcheck`).toBeGreaterThan(0);
      expect([hc?.test].flat()[0], `${name} healthcheck`).not.toBe('NONE');
      expect(service(name).restart, `${name} restart`).toBe('unless-stopped');
    }
    for (const name of oneShot) expect(service(name).restart ?? 'no', `${name} restart`).toBe('no');
  });

  it('names only existing services in depends_on, each with a condition the target can meet', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(s))) {
        expect(services[dep], `${name} depends on unknown service ${dep}`).toBeDefined();
        expect(['service_started', 'service_healthy', 'service_completed_successfully'], `${name} -> ${dep}`).toContain(
          condition,
        );
        if (condition === 'service_healthy')
          expect(services[dep]!.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
      }
    }
  });

  it('has an acyclic dependency graph', () => {
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, path: string[]) => {
      if (state.get(name) === 'done') return;
      if (state.get(name) === 'visiting') throw new Error(`depends_on cycle: ${[...path, name].join(' -> ')}`);
      state.set(name, 'visiting');
      for (const dep of Object.keys(dependsOn(services[name] ?? {}))) visit(dep, [...path, name]);
      state.set(name, 'done');
    };
    for (const name of Object.keys(services)) visit(name, []);
  });

  it('runs on maintained images: temporalio/server with admin-tools of the same version, no auto-setup', () => {
    expect(Object.values(services).some((s) => /temporalio\/auto-setup/.test(s.image ?? ''))).toBe(false);
    expect(temporalService).toBeDefined();
    const version = tagOf(temporalService![1]);
    expect(version).toMatch(/^1\.\d+\.\d+$/);
    for (const [name, s] of adminToolsServices) expect(tagOf(s), name).toBe(version);
    // Update and update-with-start (the pacer) are on by default from server 1.26.2.
    const [minor, patch] = version.split('.').slice(1).map(Number) as [number, number];
    expect(minor > 26 || (minor === 26 && patch >= 2), version).toBe(true);
    expect(Number(tagOf(uiService![1]).split('.')[1]), 'a current Temporal UI').toBeGreaterThanOrEqual(50);
  });

  it('sets up both database schemas in a one-shot admin-tools container before the server starts', () => {
    expect(schemaSetup).toBeDefined();
    const [sName, setup] = schemaSetup!;
    expect(oneShot.has(sName)).toBe(true);
    expect(dependsOn(temporalService![1])[sName]).toBe('service_completed_successfully');
    expect(dependsOn(setup).postgresql).toBe('service_healthy');
    const script = scriptOf(setup);
    expect(script).toMatch(/temporal:temporal temporal_visibility:visibility/);
    expect(script).toMatch(/update-schema -d "\/etc\/temporal\/schema\/postgresql\/v12\/\$schema\/versioned"/);
    // The server reads the same database as the tool writes.
    const env = environmentOf(temporalService![1]);
    expect(env.DB).toBe('postgres12');
    expect(script).toContain(`--ep ${env.POSTGRES_SEEDS}`);
    expect(script).toContain(`-u ${env.POSTGRES_USER}`);
    expect(environmentOf(setup).SQL_PASSWORD).toBe(env.POSTGRES_PWD);
  });

  it('gives the one-shot containers shell scripts that parse', () => {
    for (const [name, s] of adminToolsServices) {
      const script = [s.command].flat().join('\n').replaceAll('$$', '$');
      const check = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
      expect(check.status, `${name}: ${check.stderr}`).toBe(0);
    }
  });

  it('creates the namespace the worker uses before registering search attributes', () => {
    const script = adminScript();
    const ns = configOf('worker').TEMPORAL_NAMESPACE;
    const create = script.indexOf(`temporal operator namespace create --address temporal:7233 --namespace ${ns}`);
    expect(create).toBeGreaterThan(0);
    expect(create).toBeLessThan(script.indexOf('search-attribute create'));
    // Closed runs must stay readable for `rerun` as long as re-runs are allowed.
    const retentionHours = Number(/--retention (\d+)h/.exec(script)?.[1]);
    expect(retentionHours).toBeGreaterThanOrEqual(configOf('worker').RERUN_WINDOW_DAYS * 24);
  });

  it('publishes every port on loopback only', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const p of s.ports ?? []) {
        expect(
          typeof p === 'object' ? String((p as { host_ip?: string }).host_ip) : String(p),
          `${name} port ${JSON.stringify(p)}`,
        ).toMatch(/^127\.0\.0\.1:/);
      }
    }
  });

  it('runs our containers on a read-only root filesystem with a tmpfs /tmp', () => {
    for (const name of ['worker', 'webhook', 'codec']) {
      expect(service(name).read_only, name).toBe(true);
      expect([service(name).tmpfs].flat(), name).toContain('/tmp');
    }
  });

  it('runs the codec endpoint with the encryption profile, on the port the UI is told about', () => {
    const codec = service('codec');
    expect(codec.profiles).toEqual(['encryption']);
    expect([codec.command].flat()).toEqual(['codec-server']);
    expect(buildCli().commands.map((c) => c.name())).toContain('codec-server');
    const cfg = loadConfig(
      { ...containerEnv('codec'), PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}` },
      ['codec'],
    );
    expect(cfg.CODEC_HOST).toBe('0.0.0.0');
    expect(containerPorts(codec)).toEqual([cfg.CODEC_PORT]);
    expect(Number(healthcheckUrl(codec).port)).toBe(cfg.CODEC_PORT);
    // The UI's browser calls the endpoint: its origin must be allowed, and the URL it is given
    // (documented in .env.example, interpolated by compose) must be the published port.
    expect(cfg.CODEC_CORS_ORIGINS.split(',')).toContain('http://localhost:8233');
    expect(environmentOf(uiService![1]).TEMPORAL_CODEC_ENDPOINT).toBe('${TEMPORAL_CODEC_ENDPOINT:-}');
    const documented = /^#\s*TEMPORAL_CODEC_ENDPOINT=(\S+)$/m.exec(envExampleText)?.[1];
    const published = (codec.ports ?? []).map(String)[0]!.split(':');
    expect(documented).toBe(`http://localhost:${published[1]}`);
    expect(envExampleText).toMatch(/^#\s*COMPOSE_PROFILES=encryption$/m);
  });

  it('starts worker and webhook only after the search attributes are registered', () => {
    expect(adminTools).toBeDefined();
    const [aName] = adminTools!;
    expect(oneShot.has(aName)).toBe(true);
    for (const name of ['worker', 'webhook']) {
      expect(dependsOn(service(name))[aName], name).toBe('service_completed_successfully');
    }
    expect(dependsOn(adminTools![1])[temporalService![0]]).toBe('service_healthy');
  });

  it('registers exactly our search attributes, with their types, in the namespace the worker uses', () => {
    const script = adminScript();
    const creates = script.split('\n').filter((l) => l.includes('search-attribute create'));
    const registered: Record<string, string> = {};
    for (const line of creates) {
      expect(line).toMatch(/\btemporal operator search-attribute create\b/);
      const pairs = [...line.matchAll(/--name[= ](\w+)\s+--type[= ](\w+)/g)];
      expect(pairs.length, line).toBeGreaterThan(0);
      for (const [, name, type] of pairs) {
        expect(registered[name!], `${name} registered twice`).toBeUndefined();
        registered[name!] = type!;
      }
      expect(/--namespace[= ](\S+)/.exec(line)?.[1], line).toBe(configOf('worker').TEMPORAL_NAMESPACE);
    }
    expect(registered).toEqual(SEARCH_ATTRIBUTES);
    // Idempotent: a restart of the stack meets attributes registered by the previous run; only a
    // same-name attribute of another type ("already exists and has different type") is an error.
    expect(script).toMatch(/already exists/i);
    expect(script).toMatch(/different type/i);
  });
});

describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = lines.flatMap((l, i) => (/^FROM\s/i.test(l) ? [i] : []));
  const finalStage = lines.slice(froms.at(-1));
  const instr = (stage: string[], name: string) => stage.filter((l) => l.toUpperCase().startsWith(`${name} `));

  it('is multi-stage on the current Node LTS (node:24-bookworm-slim, unless told otherwise)', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(lines.slice(0, froms[0])).toContain('ARG NODE_IMAGE=node:24-bookworm-slim');
    for (const i of froms) expect(lines[i]).toMatch(/^FROM\s+\$\{NODE_IMAGE\}\s/i);
  });

  it('installs production dependencies only in the final stage', () => {
    const installs = instr(finalStage, 'RUN').filter((l) => /\bnpm (ci|install)\b/.test(l));
    expect(installs.length).toBeGreaterThan(0);
    for (const l of installs) expect(l).toMatch(/--omit=dev\b/);
    expect(instr(finalStage, 'ENV').join(' ')).toMatch(/NODE_ENV=production/);
  });

  it('runs as a non-root user', () => {
    const users = instr(finalStage, 'USER');
    expect(users.length).toBeGreaterThan(0);
    expect(users.at(-1)!.split(/\s+/)[1]).not.toMatch(/^(root|0)(:|$)/);
  });

  it('starts the CLI, as a worker by default', () => {
    expect(JSON.parse(instr(finalStage, 'ENTRYPOINT').at(-1)!.slice('ENTRYPOINT'.length))).toEqual([
      'node',
      '--max-semi-space-size=16',
      'bin/lease-costs.mjs',
    ]);
    expect(JSON.parse(instr(finalStage, 'CMD').at(-1)!.slice(4))).toEqual(['worker']);
  });

  it('npm run worker starts node as the image does (same flags)', () => {
    const entrypoint = JSON.parse(instr(finalStage, 'ENTRYPOINT').at(-1)!.slice('ENTRYPOINT'.length)) as string[];
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.worker).toBe(`${entrypoint.join(' ')} worker`);
  });

  /** Paths a stage copies (the last COPY argument is the destination), relative to /app. */
  const copiedBy = (stage: string[]) =>
    instr(stage, 'COPY').flatMap((l) => {
      const args = l
        .split(/\s+/)
        .slice(1)
        .filter((a) => !a.startsWith('--'));
      return args.slice(0, -1).map((a) => relative('/app', resolve('/app', a)));
    });
  const buildStage = lines.slice(froms[0], froms[1]);

  it('gives the build stage every file its type check and lint read, so npm run lint there checks what it checks here', () => {
    expect(instr(buildStage, 'RUN').join(' ')).toMatch(/npm run lint\b/);
    expect(copiedBy(buildStage)).toEqual(
      expect.arrayContaining(['tsconfig.json', 'eslint.config.js', '.prettierrc.json', '.prettierignore']),
    );
  });

  it('builds compiled JavaScript and the workflow bundle in the build stage, and ships only those', () => {
    expect(instr(buildStage, 'RUN').join(' ')).toMatch(/npm run build\b/);
    expect(read('package.json')).toMatch(/"build": "node scripts\/build\.mjs"/);
    // The runtime stage gets bin/ and dist/ from the build stage, and no source at all.
    expect(copiedBy(finalStage).sort()).toEqual([
      'bin',
      'dist',
      'package-lock.json',
      'package.json',
      'scripts/prune-production.mjs',
    ]);
    // bin/ runs dist/ when there is no src/ next to it; tsx (its checkout path) is a dev dependency.
    const pkg = JSON.parse(read('package.json')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.dependencies.tsx).toBeUndefined();
    expect(pkg.devDependencies.tsx).toBeDefined();
    expect(read('bin/lease-costs.mjs')).toMatch(/dist\/cli\.mjs/);
  });

  it("keeps only this platform's native Temporal bridge", () => {
    const install = instr(finalStage, 'RUN').find((l) => /\bnpm ci\b/.test(l))!;
    expect(install).toMatch(/npm ci --omit=dev\b.*&& node scripts\/prune-production\.mjs/);
  });

  it('compiles every module the worker and webhook load, from production dependencies only', () => {
    const built = copiedBy(buildStage);
    const inBuild = (f: string) => built.some((p) => f === p || f.startsWith(`${p}/`));

    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const prodDeps = new Set(Object.keys(pkg.dependencies));
    const builtins = new Set(builtinModules);
    const resolveModule = (base: string) => {
      const file = [base, `${base}.ts`, join(base, 'index.ts')].find(
        (c) => existsSync(join(root, c)) && statSync(join(root, c)).isFile(),
      );
      if (!file) throw new Error(`cannot resolve ${base}`);
      return file;
    };
    const pkgName = (spec: string) =>
      spec
        .split('/')
        .slice(0, spec.startsWith('@') ? 2 : 1)
        .join('/');

    // cli.ts imports each command lazily: follow only the modules behind `worker` and `webhook`
    // (the demo loads test fakes, and is not meant to run in the image).
    const cli = read('src/interfaces/cli.ts');
    const commandModules = (['worker', 'webhook'] as const).map((c) => {
      const m = new RegExp(`\\.command\\('${c}'\\)[\\s\\S]*?import\\(\\s*'([^']+)'`).exec(cli);
      expect(m, `cli.ts command ${c}`).not.toBeNull();
      return resolveModule(join('src/interfaces', m![1]!));
    });
    // The workflow bundle is built from workflows/ too.
    const entries = ['src/interfaces/cli.ts', ...commandModules, 'workflows/index.ts'];
    const seen = new Set<string>();
    const queue = [...entries];
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      expect(inBuild(file), `${file} is loaded at runtime but not copied into the build stage`).toBe(true);
      // Lazy imports in cli.ts are followed only for the two commands the image runs.
      const src = read(file).replace(/\/\/.*$/gm, '');
      const specs = [...src.matchAll(/^\s*(?:import|export)\s+(?!type\s)[^;]*?from\s+['"]([^'"]+)['"]/gm)].map(
        (m) => m[1]!,
      );
      if (file !== 'src/interfaces/cli.ts')
        specs.push(...[...src.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!));
      for (const spec of specs) {
        if (spec.startsWith('.')) {
          queue.push(resolveModule(join(dirname(file), spec)));
        } else if (!spec.startsWith('node:') && !builtins.has(spec)) {
          expect(prodDeps.has(pkgName(spec)), `${file} imports ${spec}, which is not a production dependency`).toBe(
            true,
          );
        }
      }
    }
    expect(seen.size).toBeGreaterThan(entries.length);
  });

  it('keeps local state and secrets out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const p of ['node_modules', '.tools', '.data', 'test-output', '.git', '.env', 'dist'])
      expect(ignored).toContain(p);
  });
});

describe('Temporal dynamic config', () => {
  it('is a file the server is told to read, with task-queue priority on and no partition overrides', () => {
    const [, temporal] = temporalService!;
    const mount = (temporal.volumes ?? []).map(String).find((v) => v.includes('dynamicconfig'));
    expect(mount, 'a dynamic config file is mounted').toBeDefined();
    const [hostPath, containerPath] = mount!.split(':');
    expect(existsSync(join(root, hostPath!))).toBe(true);
    expect(`/etc/temporal/${environmentOf(temporal).DYNAMIC_CONFIG_FILE_PATH}`).toBe(containerPath);
    expect(parseYaml(read(hostPath!))).toEqual({ 'matching.useNewMatcher': [{ value: true }] });
  });
});
