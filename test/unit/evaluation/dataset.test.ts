import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError, discoverDataset, frameSequence, parseLabels } from '../../../server/src/evaluation/dataset.ts';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A temporary folder with empty files at the given relative paths (content is never read here). */
function tree(files: string[]): string {
  const root = mkdtempSync(join(tmpdir(), 'dfs-dataset-'));
  roots.push(root);
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  return root;
}

const summary = (root: string) =>
  discoverDataset(root)
    .clips.map((c) => `${c.id} ${c.label} ${c.kind}${c.attack ? ` ${c.attack}` : ''}`)
    .sort();

describe('discoverDataset by folders', () => {
  it('labels real/ and fake/ folders at any depth, naming the attack', () => {
    const root = tree([
      'real/a.jpg',
      'fake/b.png',
      'set1/real/talk.mp4',
      'set1/fake/faceswap/c.mp4',
      'set2/df/d.jpg',
      'set2/spoof/e.jpg',
      'voices/bonafide/x.flac',
      'voices/synthetic/y.wav',
      'misc/unlabelled.jpg',
      'real/notes.txt',
    ]);
    expect(summary(root)).toEqual([
      'fake/b.png fake image fake',
      'real/a.jpg real image',
      'set1/fake/faceswap/c.mp4 fake video faceswap',
      'set1/real/talk.mp4 real video',
      'set2/df/d.jpg fake image df',
      'set2/spoof/e.jpg fake image spoof',
      'voices/bonafide/x.flac real audio',
      'voices/synthetic/y.wav fake audio synthetic',
    ]);
    const d = discoverDataset(root);
    expect(d.source).toBe('folders');
    expect(d.skipped).toEqual([{ path: 'misc/unlabelled.jpg', why: expect.stringContaining('no real/ or fake/ folder') }]);
  });

  it('the nearest label folder wins', () => {
    const root = tree(['fake/real/a.jpg', 'real/fake/b.jpg']);
    expect(summary(root)).toEqual(['fake/real/a.jpg real image', 'real/fake/b.jpg fake image fake']);
  });

  it('applies the shared data conventions (silentface, pexels, librispeech) at any depth', () => {
    const root = tree([
      'faces/silentface/image_T1.jpg',
      'faces/silentface/image_F1.jpg',
      'faces/silentface/image_F2.jpg',
      'faces/silentface/other.jpg',
      'faces/pexels/p.jpg',
      'faces/mesonet/df/m.jpg',
      'speech/librispeech/1688/s.flac',
      'speech/librispeech/LICENSE.TXT',
    ]);
    expect(summary(root)).toEqual([
      'faces/mesonet/df/m.jpg fake image df',
      'faces/pexels/p.jpg real image',
      'faces/silentface/image_F1.jpg fake image presentation-attack',
      'faces/silentface/image_F2.jpg fake image presentation-attack',
      'faces/silentface/image_T1.jpg real image',
      'speech/librispeech/1688/s.flac real audio',
    ]);
    expect(discoverDataset(root).skipped).toEqual([{ path: 'faces/silentface/other.jpg', why: expect.stringContaining('silentface') }]);
  });

  it('treats a folder of numbered frames as one sequence, and other images as stills', () => {
    const root = tree(['real/clip01/0001.png', 'real/clip01/0002.png', 'real/clip01/0003.png', 'fake/f/frame_010.jpg', 'fake/f/frame_020.jpg', 'fake/f/frame_030.jpg', 'real/x1.jpg', 'real/x7.jpg', 'real/x9.jpg']);
    const d = discoverDataset(root);
    const seq = d.clips.find((c) => c.id === 'real/clip01')!;
    expect(seq).toMatchObject({ label: 'real', kind: 'sequence' });
    expect(seq.frames!.map((f) => f.slice(root.length + 1))).toEqual(['real/clip01/0001.png', 'real/clip01/0002.png', 'real/clip01/0003.png']);
    expect(d.clips.find((c) => c.id === 'fake/f')).toMatchObject({ label: 'fake', kind: 'sequence', attack: 'f' });
    // x1, x7, x9: not a constant step, so three stills.
    expect(d.clips.filter((c) => c.kind === 'image').map((c) => c.id)).toEqual(['real/x1.jpg', 'real/x7.jpg', 'real/x9.jpg']);
  });

  it('frameSequence wants 3+ numbered images with one prefix and a constant step', () => {
    expect(frameSequence('/d', ['a1.png', 'a2.png'])).toBeUndefined();
    expect(frameSequence('/d', ['a1.png', 'a2.png', 'b3.png'])).toBeUndefined();
    expect(frameSequence('/d', ['a1.png', 'a2.png', 'a3.png', 'sound.wav'])).toBeUndefined();
    expect(frameSequence('/d', ['a10.png', 'a2.png', 'a6.png'])).toEqual(['/d/a2.png', '/d/a6.png', '/d/a10.png']);
  });

  it('follows symbolic links to clips elsewhere', () => {
    const elsewhere = tree(['pics/a.jpg']);
    const root = tree([]);
    mkdirSync(join(root, 'real'));
    symlinkSync(join(elsewhere, 'pics'), join(root, 'real', 'linked'));
    symlinkSync(join(elsewhere, 'pics', 'a.jpg'), join(root, 'real', 'b.jpg'));
    expect(summary(root)).toEqual(['real/b.jpg real image', 'real/linked/a.jpg real image']);
  });

  it('says clearly when nothing is labelled or the folder is missing', () => {
    expect(() => discoverDataset(tree(['x/a.jpg']))).toThrow(/no labelled clips.*real\/ and fake\/.*labels\.csv.*x\/a\.jpg/s);
    expect(() => discoverDataset('/nonexistent/dfs-data')).toThrow(DatasetError);
  });
});

describe('labels.csv', () => {
  it('is used instead of folders when present: paths relative to it, kinds inferred or given', () => {
    const root = tree(['clips/one.mp4', 'clips/two.jpg', 'frames/0001.png', 'frames/0002.png', 'voice.bin', 'real/ignored.jpg']);
    writeFileSync(
      join(root, 'labels.csv'),
      ['path,label,kind,attack', '# a comment', '', 'clips/one.mp4,real', '"clips/two.jpg", fake ,,faceswap', 'frames,fake', 'voice.bin,real,audio'].join('\n'),
    );
    const d = discoverDataset(root);
    expect(d.source).toBe('labels.csv');
    expect(d.clips.map((c) => `${c.id} ${c.label} ${c.kind} ${c.attack ?? '-'}`)).toEqual([
      'clips/one.mp4 real video -',
      'clips/two.jpg fake image faceswap',
      'frames fake sequence fake',
      'voice.bin real audio -',
    ]);
    expect(d.clips[2]!.frames).toHaveLength(2);
  });

  it('accepts an explicit labels file elsewhere, and label synonyms', () => {
    const root = tree(['a.jpg', 'b.jpg']);
    const csv = join(root, 'meta.csv');
    writeFileSync(csv, 'a.jpg,live\nb.jpg,Spoof\n');
    const d = discoverDataset(root, { labelsFile: csv });
    expect(d.clips.map((c) => c.label)).toEqual(['real', 'fake']);
  });

  it('rejects bad lines with their line numbers and reasons, all at once', () => {
    const root = tree(['a.jpg', 'b.jpg', 'dir/x.jpg', 'thing.xyz']);
    const text = [
      'path,label',
      'a.jpg,real',
      'b.jpg,maybe',
      'missing.jpg,fake',
      'a.jpg',
      'b.jpg,real,photo',
      'a.jpg,real',
      'thing.xyz,fake',
      'dir,real,video',
      '"unterminated,real',
      'a.jpg,real,image,x,extra',
    ].join('\n');
    let err: unknown;
    try {
      parseLabels(text, root);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DatasetError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/9 bad lines/);
    expect(msg).toMatch(/line 3: unknown label "maybe" \(expected real or fake\)/);
    expect(msg).toMatch(/line 4: no such file or folder: .*missing\.jpg/);
    expect(msg).toMatch(/line 5: expected path,label\[,kind\[,attack\]\], got 1 field/);
    expect(msg).toMatch(/line 6: unknown kind "photo"/);
    expect(msg).toMatch(/line 7: a\.jpg is already listed on line 2/);
    expect(msg).toMatch(/line 8: cannot tell what thing\.xyz is from its extension: add the kind column/);
    expect(msg).toMatch(/line 9: dir is a folder, so its kind can only be sequence/);
    expect(msg).toMatch(/line 10: unbalanced double quotes/);
    expect(msg).toMatch(/line 11: expected path,label\[,kind\[,attack\]\], got 5 fields/);
  });

  it('a labels.csv in the data folder with a bad line stops discovery with that error', () => {
    const root = tree(['a.jpg']);
    writeFileSync(join(root, 'labels.csv'), 'a.jpg,reel\n');
    expect(() => discoverDataset(root)).toThrow(/labels\.csv line 1: unknown label "reel"/);
  });

  it('an empty labels.csv is an error, not an empty evaluation', () => {
    expect(() => parseLabels('path,label\n# nothing\n', '/tmp')).toThrow(/lists no clips/);
  });
});
