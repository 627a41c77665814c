/**
 * Groups of clips for per-source rows and for validation that leaves whole sources out: a regular
 * expression applied to each clip's path (its id, relative to the data folder, with `/`), whose
 * first capture group names the clip's group (`dfl_([A-Za-z_]+?)_\d` -> the identity in a
 * DeepFaceLive file name). Why a regex on the path: labelled recordings come in every naming
 * scheme, and the person or generator is almost always somewhere in the name or the folder.
 *
 * With alternatives (`(MS-VALL-E|YourTTS)|^(real)/`) the first group that took part in the match
 * names it; a regex without groups uses the whole match. Clips it does not match at all are in no
 * group: they are listed apart and left out of per-group rows (and calibration refuses them).
 */

export class GroupByError extends Error {
  override name = 'GroupByError';
}

/** Compiles a --group-by pattern, with a one-line error for a bad one. */
export function parseGroupBy(pattern: string): RegExp {
  if (!pattern) throw new GroupByError('--group-by needs a regular expression, e.g. "dfl_([A-Za-z_]+?)_\\d"');
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new GroupByError(`--group-by "${pattern}" is not a valid regular expression: ${(err as Error).message}`);
  }
}

/** The clip's group: the first capture group that matched (else the whole match), or null when the regex does not match. */
export function groupOf(path: string, re: RegExp): string | null {
  const m = re.exec(path.replaceAll('\\', '/'));
  if (!m) return null;
  for (let i = 1; i < m.length; i++) if (m[i] !== undefined) return m[i]!;
  return m[0];
}

/** Clips by group, groups in name order; `ungrouped` lists the ids it did not match. */
export function groupClips<T extends { id: string }>(clips: readonly T[], re: RegExp): { groups: Map<string, T[]>; ungrouped: string[] } {
  const groups = new Map<string, T[]>();
  const ungrouped: string[] = [];
  for (const c of clips) {
    const g = groupOf(c.id, re);
    if (g === null) ungrouped.push(c.id);
    else {
      let list = groups.get(g);
      if (!list) groups.set(g, (list = []));
      list.push(c);
    }
  }
  return { groups: new Map([...groups].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))), ungrouped };
}

/** The pattern as it was typed: RegExp.source escapes every "/", which no shell command needs. */
export function patternOf(re: RegExp): string {
  return re.source.replaceAll('\\/', '/');
}
