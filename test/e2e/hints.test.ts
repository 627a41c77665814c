/**
 * Caller-side hints in the real browser, offline: MediaPipe's wasm runtime and face model come only
 * from our server's /vendor/mediapipe handler, and every other request is refused and recorded.
 *
 * A throwaway HTTP server serves that handler, tasks-vision's own ESM bundle (to drive MediaPipe
 * directly), a face photo from the shared data, and a small harness built here with Vite that mounts
 * the real CallerHints / ScreeningNotice components and exposes HintEngine and the integrity report.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FACE_MODEL_URL, hasTfliteMetadata, MEDIAPIPE_WASM_URL, mediapipeAssets, withImageInputMetadata } from '../../server/src/http/mediapipeAssets.ts';
import { launchChromium } from '../helpers/browser.ts';
import { DATA_DIR } from '../helpers/images.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const FACE_PHOTO = join(DATA_DIR, 'faces/pexels/landmark_Test1.jpg');
const VISION_BUNDLE = join(ROOT, 'node_modules/@mediapipe/tasks-vision/vision_bundle.mjs');
const RAW_MODEL = join(ROOT, 'node_modules/@mediapipe/face_detection/face_detection_short_range.tflite');

/** Mounts the real components and exposes the client modules; built by Vite into a temp folder. */
const HARNESS = `
import { mount, unmount } from 'svelte';
import CallerHints from '${join(ROOT, 'client/src/components/CallerHints.svelte')}';
import ScreeningNotice from '${join(ROOT, 'client/src/components/ScreeningNotice.svelte')}';
import { HintEngine } from '${join(ROOT, 'client/src/lib/hints/HintEngine.ts')}';
import { collectIntegrityReport } from '${join(ROOT, 'client/src/lib/integrity.ts')}';

let engine;
window.harness = {
  mountHints(target, stream) {
    const app = mount(CallerHints, { target, props: { stream, options: { intervalMs: 150 } } });
    return () => unmount(app);
  },
  mountNotice(target) {
    mount(ScreeningNotice, { target });
  },
  /** One raw (unsteadied) hint for a playing video; null = fine, undefined = nothing to judge. */
  async check(video) {
    engine ??= await HintEngine.load();
    const hint = engine.check(video);
    return hint === undefined ? 'none' : hint === null ? 'ok' : hint.kind;
  },
  closeEngine() {
    engine?.close();
    engine = undefined;
  },
  collectIntegrityReport,
};
`;

async function buildHarness(outDir: string): Promise<void> {
  const { build } = await import('vite');
  const { svelte } = await import('@sveltejs/vite-plugin-svelte');
  await build({
    configFile: false,
    logLevel: 'error',
    root: join(ROOT, 'client'),
    base: '/harness/',
    plugins: [
      svelte(),
      {
        name: 'hints-harness',
        resolveId: (id) => (id === 'virtual:hints-harness' ? '\0hints-harness.js' : undefined),
        load: (id) => (id === '\0hints-harness.js' ? HARNESS : undefined),
      },
    ],
    build: {
      outDir,
      emptyOutDir: true,
      minify: false,
      rollupOptions: { input: 'virtual:hints-harness', output: { entryFileNames: 'harness.js' } },
    },
  });
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head>
<body><div id="hints"></div><div id="notice"></div>
<video id="cam" autoplay muted playsinline></video>
<img id="face" src="/test/face.jpg" alt="">
<script type="module" src="/harness/harness.js"></script>
<script type="module">import * as vision from '/test/vision_bundle.mjs'; window.vision = vision;</script>
</body></html>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.jpg': 'image/jpeg' };

let server: Server;
let origin: string;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let harnessDir: string;

beforeAll(async () => {
  if (!existsSync(FACE_PHOTO)) throw new Error(`face photo not found at ${FACE_PHOTO}: set DFS_DATA_DIR to the shared data folder`);
  harnessDir = mkdtempSync(join(tmpdir(), 'dfs-hints-'));
  await buildHarness(harnessDir);
  const serveMediapipe = mediapipeAssets();
  server = createServer((req, res) => {
    if (serveMediapipe(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://x');
    let file: string | undefined;
    if (url.pathname === '/test/page.html') return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    if (url.pathname === '/test/vision_bundle.mjs') file = VISION_BUNDLE;
    else if (url.pathname === '/test/face.jpg') file = FACE_PHOTO;
    else if (url.pathname.startsWith('/harness/')) {
      const f = resolve(harnessDir, `.${url.pathname.slice('/harness'.length)}`);
      if (f.startsWith(harnessDir) && existsSync(f)) file = f;
    }
    if (!file) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  ({ browser, close: closeBrowser } = await launchChromium());
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await new Promise((r) => server?.close(r));
  if (harnessDir) rmSync(harnessDir, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((done, fail) => {
    const req = request(`${origin}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** A fresh page on the test server; any request elsewhere is refused and recorded. */
async function openPage(): Promise<{ page: Page; context: BrowserContext; external: string[] }> {
  const context = await browser.newContext();
  const external: string[] = [];
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    external.push(`${route.request().method()} ${url}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[hints page error] ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !/TensorFlow Lite XNNPACK|GPU stall|GL Driver/.test(msg.text())) console.error(`[hints page] ${msg.text()}`);
    if (msg.type() === 'warning' && msg.text().includes('[caller hints]')) console.error(`[hints page] ${msg.text()}`);
    if (process.env.E2E_CONSOLE) console.error(`[hints page ${msg.type()}] ${msg.text()}`);
  });
  await page.goto(`${origin}/test/page.html`);
  await page.waitForFunction(() => 'harness' in window && 'vision' in window);
  return { page, context, external };
}

describe('the MediaPipe assets handler', () => {
  it('serves the wasm runtime and the model from the installed packages, with types and caching', async () => {
    for (const name of ['vision_wasm_internal', 'vision_wasm_nosimd_internal']) {
      const js = await get(`${MEDIAPIPE_WASM_URL}/${name}.js`);
      expect(js.status).toBe(200);
      expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
      const wasm = await get(`${MEDIAPIPE_WASM_URL}/${name}.wasm`);
      expect(wasm.status).toBe(200);
      expect(wasm.headers['content-type']).toBe('application/wasm');
      expect(wasm.headers['cache-control']).toMatch(/max-age=\d{5,}/);
      expect(wasm.body.subarray(0, 4)).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d])); // "\0asm"
      const onDisk = readFileSync(join(ROOT, `node_modules/@mediapipe/tasks-vision/wasm/${name}.wasm`));
      expect(wasm.body.equals(onDisk)).toBe(true);
    }
    const model = await get(FACE_MODEL_URL);
    expect(model.status).toBe(200);
    expect(model.headers['content-type']).toBe('application/octet-stream');
    expect(model.headers.etag).toBeTruthy();
    // The package's model, with TFLite input metadata added so MediaPipe Tasks accepts it.
    const raw = readFileSync(RAW_MODEL);
    expect(hasTfliteMetadata(raw)).toBe(false);
    expect(hasTfliteMetadata(model.body)).toBe(true);
    expect(model.body.subarray(4, 8).toString()).toBe('TFL3');
    expect(model.body.subarray(model.body.length - raw.length).equals(raw)).toBe(true);
    expect(withImageInputMetadata(model.body, { name: 'again', mean: 0, std: 1 })).toBe(model.body); // already has metadata
    expect(Number(model.headers['content-length'])).toBe(model.body.length);
  });

  it('gzips the runtime for browsers that accept it, answers HEAD and revalidates by ETag', async () => {
    const url = `${MEDIAPIPE_WASM_URL}/vision_wasm_internal.wasm`;
    const plain = await get(url);
    const gz = await get(url, { 'accept-encoding': 'gzip, deflate, br' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('accept-encoding');
    expect(gz.body.length).toBeLessThan(plain.body.length / 2);
    expect(gunzipSync(gz.body).equals(plain.body)).toBe(true);
    const head = await get(url, {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(plain.body.length));
    expect((await get(url, { 'if-none-match': plain.headers.etag! })).status).toBe(304);
    expect((await get(url, { 'if-none-match': '"stale"' })).status).toBe(200);
  });

  it('serves nothing but the whitelisted files', async () => {
    for (const path of [
      `${MEDIAPIPE_WASM_URL}/vision_wasm_module_internal.js`,
      `${MEDIAPIPE_WASM_URL}/../package.json`,
      `${MEDIAPIPE_WASM_URL}/%2e%2e/%2e%2e/face_detection/package.json`,
      '/vendor/mediapipe/face_detection_full_range.tflite',
      '/vendor/mediapipe/wasm/',
      '/vendor/mediapipe/face_detection.js',
    ]) {
      expect((await get(path)).status, path).toBe(404);
    }
    expect((await get(FACE_MODEL_URL, {}, 'POST')).status).toBe(404);
    expect((await get(`${FACE_MODEL_URL}?v=1`)).status).toBe(200);
  });
});

describe('MediaPipe face detection in Chromium, offline', () => {
  it('loads from our server: no face on the fake camera, exactly one in a photo of a face', async () => {
    const { page, context, external } = await openPage();
    const result = await page.evaluate(async ({ wasm, model }) => {
      // tasks-vision's own bundle, straight from the package (loaded by the page).
      const { FaceDetector, FilesetResolver } = (window as unknown as { vision: typeof import('@mediapipe/tasks-vision') }).vision;
      const fileset = await FilesetResolver.forVisionTasks(wasm);
      // Chromium's fake camera pattern draws false faces at up to about 0.65; real ones score 0.8+.
      const options = { baseOptions: { modelAssetPath: model, delegate: 'CPU' as const }, minDetectionConfidence: 0.7 };
      const image = await FaceDetector.createFromOptions(fileset, { ...options, runningMode: 'IMAGE' });
      const img = document.getElementById('face') as HTMLImageElement;
      await img.decode();
      const photo = image.detect(img).detections;

      const video = document.getElementById('cam') as HTMLVideoElement;
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      await video.play();
      while (video.readyState < 2) await new Promise((r) => setTimeout(r, 20));
      const live = await FaceDetector.createFromOptions(fileset, { ...options, runningMode: 'VIDEO' });
      const counts: number[] = [];
      for (let i = 0; i < 10; i++) {
        counts.push(live.detectForVideo(video, performance.now()).detections.length);
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        photo: photo.map((d) => ({ score: d.categories[0]?.score ?? 0, box: d.boundingBox })),
        imageSize: [img.naturalWidth, img.naturalHeight],
        counts,
        videoSize: [video.videoWidth, video.videoHeight],
      };
    }, { wasm: MEDIAPIPE_WASM_URL, model: FACE_MODEL_URL });

    expect(result.videoSize[0]).toBeGreaterThan(0);
    expect(result.counts).toEqual(Array(10).fill(0));
    expect(result.photo).toHaveLength(1);
    const [face] = result.photo;
    expect(face!.score).toBeGreaterThan(0.8);
    // The face is in the middle of the 1024 × 1024 portrait and about half its height.
    const cx = (face!.box!.originX + face!.box!.width / 2) / result.imageSize[0]!;
    expect(cx).toBeGreaterThan(0.35);
    expect(cx).toBeLessThan(0.65);
    expect(face!.box!.height / result.imageSize[1]!).toBeGreaterThan(0.3);
    // Nothing was fetched from anywhere else (the detectors are left open: see the next test).
    expect(external).toEqual([]);
    await context.close();
  });
});

describe('caller hints in Chromium', () => {
  it("CallerHints tells the fake camera's caller it can't see a face, and hides while the camera is off", async () => {
    const { page, context, external } = await openPage();
    await page.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true });
      const w = window as unknown as { stream: MediaStream; unmountHints: () => void; harness: { mountHints(t: Element, s: MediaStream): () => void } };
      w.stream = stream;
      w.unmountHints = w.harness.mountHints(document.getElementById('hints')!, stream);
    });
    const hint = page.getByTestId('caller-hint');
    await hint.waitFor({ timeout: 30_000 });
    expect(await hint.getAttribute('data-hint')).toBe('no-face');
    expect(await hint.textContent()).toContain("We can't see your face");

    // Camera off: the hint goes away; back on: it returns.
    await page.evaluate(() => ((window as unknown as { stream: MediaStream }).stream.getVideoTracks()[0]!.enabled = false));
    await hint.waitFor({ state: 'detached', timeout: 5000 });
    await page.evaluate(() => ((window as unknown as { stream: MediaStream }).stream.getVideoTracks()[0]!.enabled = true));
    await hint.waitFor({ timeout: 5000 });

    // Unmounting closes the detector, when MediaPipe would otherwise post its usage statistics.
    await page.evaluate(() => (window as unknown as { unmountHints: () => void }).unmountHints());
    await hint.waitFor({ state: 'detached', timeout: 5000 });
    await page.waitForTimeout(500);
    expect(external).toEqual([]);
    await context.close();
  });

  it('HintEngine judges a real face: fine when centred, too dark, off-centre, too far, and no face', async () => {
    const { page, context, external } = await openPage();
    const verdicts = await page.evaluate(async () => {
      const h = (window as unknown as { harness: { check(v: HTMLVideoElement): Promise<string> } }).harness;
      const img = document.getElementById('face') as HTMLImageElement;
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = 640;
      canvas.height = 480;
      const ctx = canvas.getContext('2d')!;
      // A canvas stream stands in for the camera; the scene is redrawn so frames keep coming.
      let draw: () => void = () => undefined;
      const paint = () => {
        ctx.fillStyle = '#808080';
        ctx.fillRect(0, 0, 640, 480);
        draw();
      };
      paint();
      const timer = setInterval(paint, 50);
      const video = document.createElement('video');
      video.muted = true;
      video.srcObject = canvas.captureStream(20);
      document.body.append(video);
      await video.play();
      const scene = async (next: () => void) => {
        draw = next;
        paint();
        await new Promise((r) => setTimeout(r, 400));
        return h.check(video);
      };
      // The photo's face sits in its middle, about half its height.
      const result = {
        centred: await scene(() => ctx.drawImage(img, 80, 0, 480, 480)),
        dark: await scene(() => {
          ctx.drawImage(img, 80, 0, 480, 480);
          ctx.fillStyle = 'rgba(0, 0, 0, 0.93)';
          ctx.fillRect(0, 0, 640, 480);
        }),
        left: await scene(() => ctx.drawImage(img, -72, 60, 360, 360)),
        far: await scene(() => ctx.drawImage(img, 240, 160, 160, 160)),
        none: await scene(() => undefined),
      };
      clearInterval(timer);
      return result;
    });
    expect(verdicts).toEqual({ centred: 'ok', dark: 'too-dark', left: 'off-centre', far: 'too-far', none: 'no-face' });
    await page.evaluate(() => (window as unknown as { harness: { closeEngine(): void } }).harness.closeEngine());
    await page.waitForTimeout(500);
    expect(external).toEqual([]);
    await context.close();
  });

  it('ScreeningNotice tells the caller the call is screened and not recorded', async () => {
    const { page, context } = await openPage();
    await page.evaluate(() => (window as unknown as { harness: { mountNotice(t: Element): void } }).harness.mountNotice(document.getElementById('notice')!));
    expect(await page.getByTestId('screening-notice').textContent()).toContain(
      'This call is screened for fraud to protect you. No video or audio is recorded.',
    );
    await context.close();
  });
});

describe('stream integrity report in Chromium', () => {
  it("reports Chromium's fake camera as a fake device, and a canvas stream as synthetic", async () => {
    const { page, context } = await openPage();
    const reports = await page.evaluate(async () => {
      const h = (window as unknown as { harness: { collectIntegrityReport(s: MediaStream): Promise<unknown> } }).harness;
      const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const ctx = canvas.getContext('2d')!;
      const timer = setInterval(() => ctx.fillRect(0, 0, Math.random() * 320, 240), 50);
      const synthetic = canvas.captureStream(30);
      const out = { camera: await h.collectIntegrityReport(camera), synthetic: await h.collectIntegrityReport(synthetic) };
      clearInterval(timer);
      return out;
    });
    expect(reports.camera).toEqual({
      cameraLabel: 'fake_device_0',
      virtualCamera: 'Fake camera',
      flags: ['virtual-camera'],
      settings: { width: 640, height: 480, frameRate: 30, deviceId: true, groupId: true },
    });
    const synthetic = reports.synthetic as { virtualCamera: string | null; flags: string[] };
    expect(synthetic.virtualCamera).toBeNull();
    // Chromium labels a canvas track with its random device id, has no group id and does not list it.
    expect(synthetic.flags).toEqual(expect.arrayContaining(['synthetic-track', 'no-group-id', 'device-not-listed']));
    await context.close();
  });
});
