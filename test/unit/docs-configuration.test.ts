import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigSchema, loadConfig, type Settings } from '../../src/infrastructure/config';

// docs/configuration.md's table is what operators read; it must not drift from the schema.

interface Row {
  vars: string[];
  defaultText: string;
  rule: string;
}

function configurationTable(): Row[] {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
  const section = /^## Variables\s*$([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(doc)?.[1];
  if (!section) throw new Error('docs/configuration.md has no "## Variables" section');
  const cells = (line: string) =>
    line
      .trim()
      .replace(/^\||\|$/g, '')
      .split('|')
      .map((c) => c.trim());
  const lines = section.split('\n').filter((l) => l.trim().startsWith('|'));
  expect(cells(lines[0]!)).toEqual(['Variable', 'Default', 'Rule']);
  return lines.slice(2).map((line) => {
    const [name, dflt, rule] = cells(line);
    const vars = [...(name ?? '').matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!);
    expect(vars.length, `no variable in row: ${line}`).toBeGreaterThan(0);
    return { vars, defaultText: dflt ?? '', rule: rule ?? '' };
  });
}

/** `value` → 'value'; "none …" → undefined; "empty …" → ''. */
function documentedDefault(text: string): string | undefined {
  const code = /^`([^`]*)`$/.exec(text);
  if (code) return code[1];
  if (/^none\b/.test(text)) return undefined;
  if (/^empty\b/.test(text)) return '';
  throw new Error(`unrecognised default in docs/configuration.md: ${text}`);
}

const rows = configurationTable();
const documented = rows.flatMap((r) => r.vars.map((v) => ({ ...r, v })));
const schemaKeys = Object.keys(ConfigSchema.shape) as (keyof Settings)[];

const problemsFor = (roles: Parameters<typeof loadConfig>[1]): string[] => {
  try {
    loadConfig({}, roles);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => p.variable);
  }
};

describe('docs/configuration.md table', () => {
  it('lists exactly the variables of ConfigSchema', () => {
    expect(new Set(documented.map((d) => d.v))).toEqual(new Set(schemaKeys));
    expect(documented.length, 'a variable is listed twice').toBe(new Set(documented.map((d) => d.v)).size);
  });

  it('documents each default as the schema applies it', () => {
    const defaults = ConfigSchema.parse({});
    for (const { v, defaultText } of documented) {
      const actual = defaults[v as keyof Settings];
      const expected = documentedDefault(defaultText);
      expect(actual === undefined ? undefined : String(actual), `${v} default`).toBe(expected);
    }
  });

  it('marks as required for the worker exactly what loadConfig requires of it', () => {
    const byDoc = rows.flatMap((r) => {
      if (/worker: required/.test(r.defaultText)) return r.vars;
      // An either/or pair is reported under its first name.
      if (/worker: one is required/.test(r.defaultText)) return [r.vars[0]!];
      return [];
    });
    expect(new Set(problemsFor(['worker']))).toEqual(new Set(byDoc));
  });

  it('says "required" for every setting the webhook cannot start without', () => {
    const missing = problemsFor(['webhook']);
    expect(missing.length).toBeGreaterThan(0);
    for (const v of missing) {
      const row = documented.find((d) => d.v === v);
      expect(`${row?.defaultText} ${row?.rule}`, v).toMatch(/required/);
    }
  });

  it('states integer ranges that the schema enforces at both ends', () => {
    const ranged = documented.filter((d) => /integer \d+\.\.\d+/.test(d.rule));
    expect(ranged.length).toBeGreaterThan(0);
    for (const { v, rule } of ranged) {
      const [, lo, hi] = /integer (\d+)\.\.(\d+)/.exec(rule)!;
      const field = ConfigSchema.shape[v as keyof Settings];
      expect(field.safeParse(lo).success, `${v}=${lo}`).toBe(true);
      expect(field.safeParse(hi).success, `${v}=${hi}`).toBe(true);
      expect(field.safeParse(String(Number(hi) + 1)).success, `${v}=${Number(hi) + 1}`).toBe(false);
      if (Number(lo) > 0) expect(field.safeParse(String(Number(lo) - 1)).success, `${v}=${Number(lo) - 1}`).toBe(false);
    }
  });
});
