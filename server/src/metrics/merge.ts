/**
 * Merges several processes' Prometheus text (the analyzer workers') into one exposition: each
 * sample gets its process's labels (worker="..."), and each metric family keeps a single HELP and
 * TYPE with all its samples together, as the text format requires (plain concatenation would
 * repeat families, which Prometheus rejects).
 */

type Labels = Record<string, string>;

interface Family {
  help?: string;
  type?: string;
  samples: string[];
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `name{a="1"} 2` + {worker: "w"} -> `name{worker="w",a="1"} 2`. */
function withLabels(line: string, extra: string): string {
  const brace = line.indexOf('{');
  const space = line.indexOf(' ');
  if (brace !== -1 && (space === -1 || brace < space)) return `${line.slice(0, brace + 1)}${extra},${line.slice(brace + 1)}`;
  return space === -1 ? line : `${line.slice(0, space)}{${extra}}${line.slice(space)}`;
}

export function mergeExpositions(parts: Array<{ labels: Labels; text: string }>): string {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { samples: [] }));
    return f;
  };
  for (const part of parts) {
    const extra = Object.entries(part.labels)
      .map(([k, v]) => `${k}="${escape(v)}"`)
      .join(',');
    let current = '';
    for (const line of part.text.split('\n')) {
      if (!line.trim()) continue;
      const meta = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (meta) {
        current = meta[2]!;
        const f = family(current);
        if (meta[1] === 'HELP') f.help ??= meta[3];
        else f.type ??= meta[3];
        continue;
      }
      if (line.startsWith('#')) continue;
      const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(line)?.[0];
      if (!name) continue;
      // Summary parts (_count, _sum) belong to the family declared before them.
      const owner = current && (name === current || name.startsWith(`${current}_`)) ? current : name;
      family(owner).samples.push(extra ? withLabels(line, extra) : line);
    }
  }
  const out: string[] = [];
  for (const [name, f] of families) {
    if (f.help !== undefined) out.push(`# HELP ${name} ${f.help}`);
    if (f.type !== undefined) out.push(`# TYPE ${name} ${f.type}`);
    out.push(...f.samples);
  }
  return out.length ? out.join('\n') + '\n' : '';
}
