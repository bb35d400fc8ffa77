// CloudWatch Logs JSON filter patterns, evaluated the way the service documents them, so a metric
// filter of the stack can be run against log lines the product really writes. Source: "Filter
// pattern syntax … Using filter patterns to match terms in JSON log events",
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html:
// - `{ SELECTOR EQUALITY_OPERATOR STRING }` with `=` or `!=`; the string may be in double quotes or
//   bare, and `*` in it is a wildcard (`{ $.sourceIPAddress != 123.123.* }`);
// - `{ SELECTOR NUMERIC_OPERATOR NUMBER }` with `=`, `!=`, `<`, `>`, `<=`, `>=`;
// - `{ $.field IS TRUE }`, `IS FALSE`, `IS NULL`, `{ $.field NOT EXISTS }`;
// - selectors start at `$.`, walk object keys and array indexes (`$.objectList[1].id`);
// - `&&` and `||` combine conditions, parentheses group them; terms are case-sensitive.
// A pattern outside this (space-delimited, regex, mixing && and || without parentheses) throws,
// so a test never passes on a pattern this matcher cannot read.

type Condition = (event: unknown) => boolean;

const MISSING = Symbol('missing');

function select(event: unknown, selector: string): unknown {
  if (!selector.startsWith('$')) throw new Error(`selector must start with $: ${selector}`);
  let value: unknown = event;
  for (const [, key, index] of selector.slice(1).matchAll(/\.([^.[\]\s]+)|\[(\d+)\]/g)) {
    if (value === null || typeof value !== 'object') return MISSING;
    const k = key ?? Number(index);
    if (!(k in (value as Record<string | number, unknown>))) return MISSING;
    value = (value as Record<string | number, unknown>)[k];
  }
  return value;
}

const wildcard = (pattern: string) =>
  new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );

function tokenize(body: string): string[] {
  const tokens: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|&&|\|\||!=|<=|>=|=|<|>|\(|\)|[^\s()=!<>&|"]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while (at < body.length && (m = re.exec(body))) {
    tokens.push(m[1]!);
    at = re.lastIndex;
  }
  if (body.slice(at).trim() !== '') throw new Error(`cannot read filter pattern near: ${body.slice(at)}`);
  return tokens;
}

function parse(tokens: string[]): Condition {
  let i = 0;
  const peek = () => tokens[i];
  const next = () => {
    const t = tokens[i++];
    if (t === undefined) throw new Error('filter pattern ends too early');
    return t;
  };
  const term = (): Condition => {
    if (peek() === '(') {
      next();
      const inner = expr();
      if (next() !== ')') throw new Error('missing )');
      return inner;
    }
    const selector = next();
    const op = next();
    if (op === 'IS') {
      const what = next();
      const want = { TRUE: true, FALSE: false, NULL: null }[what];
      if (want === undefined) throw new Error(`IS ${what}?`);
      return (e) => select(e, selector) === want;
    }
    if (op === 'NOT') {
      if (next() !== 'EXISTS') throw new Error('NOT must be followed by EXISTS');
      return (e) => select(e, selector) === MISSING;
    }
    const raw = next();
    if (!['=', '!=', '<', '>', '<=', '>='].includes(op)) throw new Error(`unknown operator ${op}`);
    const quoted = raw.startsWith('"');
    if (!quoted && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) {
      const n = Number(raw);
      const compare: Record<string, (a: number) => boolean> = {
        '=': (a) => a === n,
        '!=': (a) => a !== n,
        '<': (a) => a < n,
        '>': (a) => a > n,
        '<=': (a) => a <= n,
        '>=': (a) => a >= n,
      };
      return (e) => {
        const v = select(e, selector);
        return typeof v === 'number' && compare[op]!(v);
      };
    }
    if (op !== '=' && op !== '!=') throw new Error(`${op} compares numbers only`);
    const text = quoted ? (JSON.parse(raw) as string) : raw;
    const re = wildcard(text);
    return (e) => {
      const v = select(e, selector);
      if (typeof v !== 'string') return false;
      return re.test(v) === (op === '=');
    };
  };
  const expr = (): Condition => {
    const first = term();
    const ops: string[] = [];
    const rest: Condition[] = [];
    while (peek() === '&&' || peek() === '||') {
      ops.push(next());
      rest.push(term());
    }
    if (new Set(ops).size > 1) throw new Error('mixing && and || needs parentheses');
    if (ops[0] === '||') return (e) => first(e) || rest.some((c) => c(e));
    return (e) => first(e) && rest.every((c) => c(e));
  };
  const condition = expr();
  if (i !== tokens.length) throw new Error(`unexpected ${tokens[i]}`);
  return condition;
}

/** A matcher for one JSON filter pattern; it takes log lines as CloudWatch receives them (text). */
export function jsonFilterPattern(pattern: string): (line: string) => boolean {
  const body = pattern.trim().match(/^\{([\s\S]*)\}$/)?.[1];
  if (body === undefined) throw new Error(`not a JSON filter pattern: ${pattern}`);
  const condition = parse(tokenize(body));
  return (line) => {
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return false; // a JSON pattern matches JSON events only
    }
    return condition(event);
  };
}
