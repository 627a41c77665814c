/**
 * A simulated caller, for demos and tests without a second camera:
 *   npm run simulate -- --room demo --role patient --clip real|fake|replay|tts|fake-tts [--name N] [--no-respond]
 *                       [--url http://localhost:8080] [--token T] [--seconds S] [--switch-to fake --after 20]
 * Joins through @roamhq/wrtc and publishes the clip; answers liveness challenges unless --no-respond.
 * Without --token it issues one with the server's secret (TOKEN_SECRET or the generated one in DATA_DIR).
 */
import { InferenceRuntime } from '../server/src/analyzer/inference/InferenceRuntime.ts';
import { ModelRegistry } from '../server/src/analyzer/inference/ModelRegistry.ts';
import { issueToken } from '../server/src/auth/token.ts';
import { loadConfig } from '../server/src/config.ts';
import { ANALYSED_ROLES, type Role } from '../server/src/protocol/roles.ts';
import { ClipLibrary, CLIP_NAMES, CLIPS, type ClipName } from '../server/src/simulate/clips.ts';
import { SimulatedCaller } from '../server/src/simulate/SimulatedCaller.ts';
import { parseCli } from './cli.ts';

const usage = `usage: npm run simulate -- --room ROOM --role ${ANALYSED_ROLES.join('|')} --clip ${CLIP_NAMES.join('|')}
         [--name NAME] [--no-respond] [--url BASE] [--token TOKEN] [--seconds S] [--switch-to CLIP --after S] [--fps 12]
clips:
${CLIP_NAMES.map((c) => `  ${c.padEnd(9)} ${CLIPS[c].about}`).join('\n')}`;

const cli = parseCli(usage, {
  room: { type: 'string' },
  role: { type: 'string', default: 'patient' },
  clip: { type: 'string', default: 'real' },
  name: { type: 'string' },
  'no-respond': { type: 'boolean', default: false },
  url: { type: 'string' },
  token: { type: 'string' },
  seconds: { type: 'string' },
  'switch-to': { type: 'string' },
  after: { type: 'string' },
  fps: { type: 'string', default: '12' },
});
const { values } = cli;
// Annotated, so that TypeScript narrows after a call to it.
const fail: (message: string) => never = cli.fail;
const isClip = (c: string | undefined): c is ClipName => (CLIP_NAMES as readonly string[]).includes(c ?? '');
if (!values.room) fail('--room is required');
if (!(ANALYSED_ROLES as readonly string[]).includes(values.role)) fail(`--role must be one of ${ANALYSED_ROLES.join(', ')} (simulated callers are the analysed side)`);
if (!isClip(values.clip)) fail(`unknown clip "${values.clip}"`);
if (values['switch-to'] !== undefined && !isClip(values['switch-to'])) fail(`unknown clip "${values['switch-to']}"`);
const seconds = values.seconds !== undefined ? Number(values.seconds) : undefined;
if (seconds !== undefined && !(seconds > 0)) fail('--seconds must be a positive number');
const fps = Number(values.fps);
if (!(fps >= 1 && fps <= 30)) fail('--fps must be between 1 and 30');
const after = values.after !== undefined ? Number(values.after) : 20;
if (!(after >= 0)) fail('--after must be a number of seconds');

const config = loadConfig();
const url = values.url ?? config.publicUrl ?? `http://localhost:${config.port}`;
const name = values.name ?? `Simulated ${values.clip} caller`;
const token =
  values.token ?? issueToken(config.tokenSecret, { room: values.room, role: values.role as Role, name, ttlSeconds: 4 * 3600 });

const say = (msg: string) => console.log(`${new Date().toISOString()} [simulate] ${msg}`);
const runtime = new InferenceRuntime(ModelRegistry.load(), { provider: 'cpu' });
let caller: SimulatedCaller;
try {
  caller = await SimulatedCaller.create({
    url,
    token,
    room: values.room,
    clip: values.clip,
    library: new ClipLibrary(runtime),
    respond: !values['no-respond'],
    fps,
  });
} catch (err) {
  console.error(`[simulate] cannot prepare the clip: ${(err as Error).message}`);
  process.exit(1);
}
caller.on('prompt', (p, respond) => say(`challenge ${p.step}/${p.of}: "${p.instruction}" -> ${respond ? 'doing it' : 'ignoring it'}`));
caller.on('clip', (c) => say(`now playing: ${c} (${CLIPS[c].about})`));
caller.session.on('state', (s) => say(`session ${s}`));
caller.session.on('fatal', (e) => {
  console.error(`[simulate] ${e.code}: ${e.message}`);
  process.exitCode = 1;
  void shutdown();
});
caller.session.on('room-closed', (reason) => {
  say(`call ended: ${reason}`);
  void shutdown();
});

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await caller.leave().catch(() => undefined);
  await runtime.close();
  process.exit();
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());

try {
  const joined = await caller.join();
  say(`joined "${joined.room}" as ${values.role} "${name}", playing ${values.clip}: ${CLIPS[values.clip].about}`);
} catch (err) {
  console.error(`[simulate] could not join: ${(err as Error).message}`);
  process.exitCode = 1;
  await shutdown();
}
const next = values['switch-to'];
if (isClip(next)) setTimeout(() => void caller.switchTo(next), after * 1000);
if (seconds !== undefined) setTimeout(() => void shutdown(), seconds * 1000);
