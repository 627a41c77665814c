/**
 * A strict reader of the Prometheus text exposition format (0.0.4), for tests: it throws on what
 * Prometheus would reject or silently mangle (a repeated HELP or TYPE, a family split in two, a
 * sample before its TYPE or outside its family, a bad label, a duplicate series, a histogram
 * without its +Inf bucket or with buckets that go down), and returns the families to look into.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string;
  help?: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function suffixes(type: string): string[] {
  if (type === 'histogram') return ['_bucket', '_sum', '_count'];
  if (type === 'summary') return ['', '_sum', '_count'];
  return [''];
}

function parseValue(s: string, line: string): number {
  // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes "Nan").
  if (/^nan$/i.test(s)) return NaN;
  if (/^\+?inf$/i.test(s)) return Infinity;
  if (/^-inf$/i.test(s)) return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value in: ${line}`);
  return Number(s);
}

function parseLabels(s: string, line: string): [Record<string, string>, string] {
  const labels: Record<string, string> = {};
  let rest = s;
  if (!rest.startsWith('{')) return [labels, rest];
  rest = rest.slice(1);
  while (!rest.startsWith('}')) {
    const m = LABEL.exec(rest);
    if (!m) throw new Error(`bad label in: ${line}`);
    if (m[1]! in labels) throw new Error(`label ${m[1]} twice in: ${line}`);
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    rest = rest.slice(m[0].length);
    if (rest.startsWith(',')) rest = rest.slice(1);
    else if (!rest.startsWith('}')) throw new Error(`bad label list in: ${line}`);
  }
  return [labels, rest.slice(1)];
}

export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const declared = { help: new Set<string>(), type: new Set<string>() };
  const closed = new Set<string>();
  const series = new Set<string>();
  let current: Family | undefined;
  const enter = (name: string): Family => {
    if (current?.name === name) return current;
    if (current) closed.add(current.name);
    if (closed.has(name)) throw new Error(`family ${name} appears in two places`);
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
    current = f;
    return f;
  };
  if (text.length && !text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([^ ]+)(?: (.*))?$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest = ''] = m;
      if (!NAME.test(name!) || NAME.exec(name!)![0] !== name) throw new Error(`bad metric name in: ${line}`);
      const set = kind === 'HELP' ? declared.help : declared.type;
      if (set.has(name!)) throw new Error(`second # ${kind} for ${name}`);
      set.add(name!);
      const f = enter(name!);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`);
        if (f.samples.length) throw new Error(`# TYPE ${name} after its samples`);
        f.type = rest;
      } else f.help = rest;
      continue;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`bad sample line: ${line}`);
    const [labels, after] = parseLabels(line.slice(name.length), line);
    const parts = after.trim().split(/ +/);
    if (!after.startsWith(' ') || parts.length < 1 || parts.length > 2) throw new Error(`bad sample line: ${line}`);
    const value = parseValue(parts[0]!, line);
    // The family: the current one when the name is one of its sample names, else the name itself.
    const owner = current && suffixes(current.type).some((s) => current!.name + s === name) ? current : enter(name);
    if (!declared.type.has(owner.name)) throw new Error(`sample ${name} before any # TYPE ${owner.name}`);
    if (!suffixes(owner.type).some((s) => owner.name + s === name)) throw new Error(`sample ${name} outside its family ${owner.name}`);
    const id = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (series.has(id)) throw new Error(`series twice: ${line}`);
    series.add(id);
    owner.samples.push({ name, labels, value });
  }
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f: Family): void {
  const groups = new Map<string, Sample[]>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const k = JSON.stringify(Object.entries(rest).sort());
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(s);
  }
  for (const [k, samples] of groups) {
    const buckets = samples.filter((s) => s.name.endsWith('_bucket')).map((s) => ({ le: parseValue(s.labels.le ?? '', k), v: s.value }));
    const inf = buckets.find((b) => b.le === Infinity);
    if (!inf) throw new Error(`histogram ${f.name}${k} has no +Inf bucket`);
    buckets.sort((a, b) => a.le - b.le);
    buckets.forEach((b, i) => {
      if (i && b.v < buckets[i - 1]!.v) throw new Error(`histogram ${f.name}${k}: buckets go down`);
    });
    const count = samples.find((s) => s.name.endsWith('_count'));
    if (!count || count.value !== inf.v) throw new Error(`histogram ${f.name}${k}: _count differs from the +Inf bucket`);
    if (!samples.some((s) => s.name.endsWith('_sum'))) throw new Error(`histogram ${f.name}${k} has no _sum`);
  }
}
