/**
 * Finds labelled clips for the evaluation, from a labels.csv or from folder conventions.
 *
 * labels.csv (in the data folder, or given explicitly): `path,label[,kind[,attack]]` per line,
 * paths relative to the csv's folder; an optional header line starting with `path`; blank lines
 * and lines starting with `#` are skipped. label: `real` or `fake` (also live/bonafide/genuine,
 * spoof/deepfake/synthetic/attack). kind: image, video, audio or sequence (a folder of frames);
 * inferred from the extension (or a folder: sequence) when left out. attack: a free name for the
 * kind of fake (results are broken down by it). Any bad line is an error naming its line number.
 *
 * Without a labels.csv, by folder:
 *   - anything below a folder named real/live/bonafide/genuine is real, below
 *     fake/df/deepfake(s)/spoof/attack/synthetic/tts/manipulated is fake, at any depth (the
 *     nearest such folder wins). The attack name is that folder's name, or for a generic `fake`
 *     folder the first folder inside it;
 *   - the shared test data's own collections (see COLLECTIONS): silentface (`*_T<n>` live,
 *     `*_F<n>` presentation attacks), pexels (real portraits), librispeech (real speech);
 *   - other media files are listed as skipped, with the reason.
 * A folder whose images are numbered frames (one name prefix, one extension, numbers in a
 * constant step, at least 3) is one `sequence` clip; other images are stills, one clip each.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { TtsVoice } from '../analyzer/audio/tts.ts';

export type Label = 'real' | 'fake';
export type ClipKind = 'image' | 'video' | 'audio' | 'sequence';

export interface Clip {
  /** Path relative to the data folder (or a `tts:` name for generated speech). */
  id: string;
  label: Label;
  kind: ClipKind;
  /** Absolute path of the file, or of the folder of a sequence. */
  path?: string;
  /** A sequence's frame files, in order. */
  frames?: string[];
  /** Fake clips: what kind of fake (folder name, `presentation-attack`, `tts`...). */
  attack?: string;
  /** Generated speech: which voice said what. */
  tts?: { voice: TtsVoice; text: string };
  /** In-memory 16 kHz mono audio (generated speech) instead of a file. */
  samples?: Float32Array;
}

export interface Dataset {
  root: string;
  source: 'labels.csv' | 'folders';
  labelsFile?: string;
  clips: Clip[];
  /** Media files that got no label, and why. */
  skipped: { path: string; why: string }[];
  notes: string[];
}

export class DatasetError extends Error {
  override name = 'DatasetError';
}

export const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff']);
export const VIDEO_EXT = new Set(['.mp4', '.mov', '.mkv', '.webm', '.avi', '.y4m', '.m4v', '.mpg', '.mpeg', '.ts', '.3gp']);
export const AUDIO_EXT = new Set(['.wav', '.flac', '.mp3', '.ogg', '.opus', '.m4a', '.aac', '.oga']);

const REAL_DIRS = new Set(['real', 'live', 'bonafide', 'bona-fide', 'bona_fide', 'genuine']);
const FAKE_DIRS = new Set(['fake', 'df', 'deepfake', 'deepfakes', 'spoof', 'attack', 'synthetic', 'tts', 'manipulated']);
const LABEL_WORDS: Record<string, Label> = {
  real: 'real',
  live: 'real',
  bonafide: 'real',
  'bona-fide': 'real',
  genuine: 'real',
  fake: 'fake',
  spoof: 'fake',
  deepfake: 'fake',
  synthetic: 'fake',
  attack: 'fake',
};
const KINDS: readonly ClipKind[] = ['image', 'video', 'audio', 'sequence'];

/**
 * Collections of the shared test data (shared/data/DATA.md) whose labels are not in folder
 * names: they apply to every file below a folder of that name, when no real/fake folder does.
 */
export const COLLECTIONS: readonly { folder: string; about: string; label: (file: string) => { label: Label; attack?: string } | undefined }[] = [
  {
    folder: 'silentface',
    about: 'faces/silentface (Silent-Face naming): image_T<n> = live person (real), image_F<n> = presentation attack (fake)',
    label: (f) => {
      const stem = basename(f, extname(f));
      if (/_T\d+$/i.test(stem)) return { label: 'real' };
      if (/_F\d+$/i.test(stem)) return { label: 'fake', attack: 'presentation-attack' };
      return undefined;
    },
  },
  { folder: 'pexels', about: 'faces/pexels: stock portraits of real people (real)', label: () => ({ label: 'real' }) },
  { folder: 'librispeech', about: 'speech/librispeech: read speech by real speakers (real)', label: () => ({ label: 'real' }) },
];

export function kindOfFile(file: string): ClipKind | undefined {
  const e = extname(file).toLowerCase();
  return IMAGE_EXT.has(e) ? 'image' : VIDEO_EXT.has(e) ? 'video' : AUDIO_EXT.has(e) ? 'audio' : undefined;
}

/** Natural order: frame2 before frame10. */
function natural(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });
}

/** The frames of a folder if it holds numbered frames of one sequence (see the header), else undefined. */
export function frameSequence(dir: string, files: readonly string[]): string[] | undefined {
  const images = files.filter((f) => kindOfFile(f) === 'image').sort(natural);
  if (images.length < 3 || images.length !== files.filter((f) => kindOfFile(f) !== undefined).length) return undefined;
  const parts = images.map((f) => /^(.*?)(\d+)(\.[^.]+)$/.exec(f));
  if (parts.some((p) => !p)) return undefined;
  const [, prefix, , ext] = parts[0]!;
  if (parts.some((p) => p![1] !== prefix || p![3]!.toLowerCase() !== ext!.toLowerCase())) return undefined;
  const nums = parts.map((p) => Number(p![2]));
  const step = nums[1]! - nums[0]!;
  if (!(step > 0) || nums.some((n, i) => i > 0 && n - nums[i - 1]! !== step)) return undefined;
  return images.map((f) => join(dir, f));
}

/** Splits one CSV line; fields may be double-quoted (with "" for a quote). */
function splitCsvLine(line: string): string[] | undefined {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        if (i >= line.length) return undefined; // unterminated quote
        if (line[i] === '"') {
          if (line[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += line[i++];
      }
      while (line[i] === ' ' || line[i] === '\t') i++;
      if (i < line.length && line[i] !== ',') return undefined;
    } else {
      const end = line.indexOf(',', i);
      field = line.slice(i, end < 0 ? line.length : end);
      i = end < 0 ? line.length : end;
    }
    out.push(field.trim());
    if (i >= line.length) return out;
    i++; // the comma
  }
}

/** Parses labels.csv text; paths resolve against `baseDir`. Throws one DatasetError listing every bad line. */
export function parseLabels(text: string, baseDir: string, fileName = 'labels.csv'): Clip[] {
  const clips: Clip[] = [];
  const errors: string[] = [];
  const seen = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, idx) => {
    const lineNo = idx + 1;
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = splitCsvLine(line);
    const bad = (why: string) => errors.push(`${fileName} line ${lineNo}: ${why} (line: ${JSON.stringify(raw.length > 120 ? raw.slice(0, 117) + '...' : raw)})`);
    if (!fields) return bad('unbalanced double quotes');
    if (clips.length === 0 && errors.length === 0 && fields[0]?.toLowerCase() === 'path') return; // header
    if (fields.length < 2 || fields.length > 4) return bad(`expected path,label[,kind[,attack]], got ${fields.length} field${fields.length === 1 ? '' : 's'}`);
    const [p, labelWord, kindWord, attack] = fields as [string, string, string?, string?];
    if (!p) return bad('empty path');
    const label = LABEL_WORDS[labelWord.toLowerCase()];
    if (!label) return bad(`unknown label "${labelWord}" (expected real or fake)`);
    if (kindWord && !KINDS.includes(kindWord.toLowerCase() as ClipKind)) return bad(`unknown kind "${kindWord}" (expected ${KINDS.join(', ')})`);
    const abs = isAbsolute(p) ? p : resolve(baseDir, p);
    if (!existsSync(abs)) return bad(`no such file or folder: ${abs}`);
    const isDir = statSync(abs).isDirectory();
    let kind = kindWord ? (kindWord.toLowerCase() as ClipKind) : undefined;
    if (isDir && kind && kind !== 'sequence') return bad(`${p} is a folder, so its kind can only be sequence`);
    if (!isDir && kind === 'sequence') return bad(`${p} is a file; a sequence is a folder of frames`);
    kind ??= isDir ? 'sequence' : kindOfFile(abs);
    if (!kind) return bad(`cannot tell what ${p} is from its extension: add the kind column (${KINDS.join(', ')})`);
    let frames: string[] | undefined;
    if (kind === 'sequence') {
      frames = readdirSync(abs).filter((f) => kindOfFile(f) === 'image').sort(natural).map((f) => join(abs, f));
      if (frames.length === 0) return bad(`folder ${p} holds no images`);
    }
    const id = relative(baseDir, abs).split(sep).join('/') || p;
    const dup = seen.get(id);
    if (dup !== undefined) return bad(`${p} is already listed on line ${dup}`);
    seen.set(id, lineNo);
    clips.push({ id, label, kind, path: abs, ...(frames ? { frames } : {}), ...(attack ? { attack } : label === 'fake' ? { attack: 'fake' } : {}) });
  });
  if (errors.length) {
    const shown = errors.slice(0, 20);
    throw new DatasetError(`${fileName}: ${errors.length} bad line${errors.length === 1 ? '' : 's'}:\n  ${shown.join('\n  ')}${errors.length > shown.length ? `\n  ... and ${errors.length - shown.length} more` : ''}`);
  }
  if (clips.length === 0) throw new DatasetError(`${fileName} lists no clips`);
  return clips;
}

interface Context {
  label?: Label;
  attack?: string;
  /** Set when the label came from a generic `fake` folder: the first folder inside names the attack. */
  genericFake?: boolean;
  /** Inside one of the shared data's COLLECTIONS (at any depth). */
  collection?: (typeof COLLECTIONS)[number];
}

/** Walks `root` applying the folder conventions (see the header). */
function discoverFolders(root: string): { clips: Clip[]; skipped: Dataset['skipped']; collections: Set<string> } {
  const clips: Clip[] = [];
  const skipped: Dataset['skipped'] = [];
  const collections = new Set<string>();
  const rel = (p: string) => relative(root, p).split(sep).join('/');

  const visited = new Set<string>();
  const walk = (dir: string, ctx: Context): void => {
    // Symbolic links are followed (a data folder may link to clips elsewhere); each folder once.
    const real = realpathSync(dir);
    if (visited.has(real)) return;
    visited.add(real);
    const entries = readdirSync(dir, { withFileTypes: true })
      .map((e) => {
        let type: 'file' | 'dir' | undefined = e.isFile() ? 'file' : e.isDirectory() ? 'dir' : undefined;
        if (e.isSymbolicLink()) {
          try {
            const st = statSync(join(dir, e.name));
            type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : undefined;
          } catch {
            type = undefined; // a dangling link
          }
        }
        return { name: e.name, type };
      })
      .sort((a, b) => natural(a.name, b.name));
    const files = entries.filter((e) => e.type === 'file').map((e) => e.name);
    const collection = ctx.collection;
    const seq = frameSequence(dir, files);
    if (seq && ctx.label) {
      clips.push({ id: rel(dir), label: ctx.label, kind: 'sequence', path: dir, frames: seq, ...(ctx.label === 'fake' ? { attack: ctx.attack ?? 'fake' } : {}) });
    } else {
      for (const f of files) {
        const kind = kindOfFile(f);
        if (!kind) continue; // notes, licences, speaker lists
        const path = join(dir, f);
        let label = ctx.label;
        let attack = ctx.attack;
        if (!label && collection) {
          const got = collection.label(f);
          if (got) {
            label = got.label;
            attack = got.attack;
            collections.add(collection.about);
          }
        }
        if (!label) {
          skipped.push({ path: rel(path), why: collection ? `not labelled by the ${collection.folder} naming` : 'no real/ or fake/ folder above it, and no labels.csv' });
          continue;
        }
        clips.push({ id: rel(path), label, kind, path, ...(label === 'fake' ? { attack: attack ?? 'fake' } : {}) });
      }
    }
    for (const e of entries) {
      if (e.type !== 'dir' || e.name.startsWith('.') || e.name === 'node_modules') continue;
      const name = e.name.toLowerCase();
      let next: Context = ctx;
      if (REAL_DIRS.has(name)) next = { label: 'real' };
      else if (FAKE_DIRS.has(name)) next = name === 'fake' ? { label: 'fake', attack: 'fake', genericFake: true } : { label: 'fake', attack: e.name };
      else if (ctx.genericFake) next = { label: 'fake', attack: e.name };
      const inCollection = COLLECTIONS.find((c) => c.folder === name);
      if (inCollection) next = { ...next, collection: inCollection };
      walk(join(dir, e.name), next);
    }
  };
  walk(root, {});
  return { clips, skipped, collections };
}

/**
 * The labelled clips under `root`: from `labelsFile` when given, else `root/labels.csv` when it
 * exists, else by folder conventions.
 */
export function discoverDataset(root: string, options: { labelsFile?: string } = {}): Dataset {
  const absRoot = resolve(root);
  if (!existsSync(absRoot) || !statSync(absRoot).isDirectory()) {
    throw new DatasetError(`data folder ${absRoot} not found: pass --data DIR (or set DFS_DATA_DIR; see shared/data/DATA.md)`);
  }
  const labelsFile = options.labelsFile ? resolve(options.labelsFile) : existsSync(join(absRoot, 'labels.csv')) ? join(absRoot, 'labels.csv') : undefined;
  if (labelsFile) {
    if (!existsSync(labelsFile)) throw new DatasetError(`labels file ${labelsFile} not found`);
    const clips = parseLabels(readFileSync(labelsFile, 'utf8'), dirname(labelsFile), basename(labelsFile));
    return { root: absRoot, source: 'labels.csv', labelsFile, clips, skipped: [], notes: [`Labels from ${labelsFile}.`] };
  }
  const { clips, skipped, collections } = discoverFolders(absRoot);
  if (clips.length === 0) {
    throw new DatasetError(
      `no labelled clips under ${absRoot}: put clips in real/ and fake/ folders (any depth) or list them in labels.csv (path,label[,kind])` +
        (skipped.length ? `; ${skipped.length} unlabelled media file(s) found, e.g. ${skipped[0]!.path}` : ''),
    );
  }
  const notes = ['Labels from folder names: real/live/bonafide/genuine = real; fake/df/deepfake/spoof/attack/synthetic/tts/manipulated = fake.'];
  for (const c of collections) notes.push(`Labels by the shared data's convention: ${c}.`);
  if (skipped.length) notes.push(`${skipped.length} media file(s) had no label and were left out (see skipped).`);
  return { root: absRoot, source: 'folders', clips, skipped, notes };
}
