/**
 * Issue a join link: npm run token -- --room R --role clinician --name "Dr. Who" [--ttl 3600] [--sub ID] [--room-type kyc]
 * Uses the same secret as the server (TOKEN_SECRET, or the one the server generated in DATA_DIR).
 */
import { issueServiceToken, issueToken } from '../server/src/auth/token.ts';
import { loadConfig } from '../server/src/config.ts';
import { dashboardLink, joinLink } from '../server/src/http/joinLink.ts';
import { ALL_ROOMS } from '../server/src/protocol/dashboard.ts';
import { isHost, ROLES, ROOM_TYPES, type Role, type RoomType } from '../server/src/protocol/roles.ts';
import { parseCli } from './cli.ts';

const usage = `usage: npm run token -- --room ROOM --role ROLE --name NAME [--ttl SECONDS] [--sub ID] [--url BASE] [--room-type TYPE]
       npm run token -- --dashboard --name NAME [--ttl SECONDS]   (supervisor dashboard link: every call)
       npm run token -- --service analyzer [--ttl SECONDS] [--sub ID]   (credential for a remote analyzer)
  roles: ${ROLES.join(', ')}
  room types (hosts only: when liveness checks start on their own in the call this host opens): ${ROOM_TYPES.join(', ')}`;

const cli = parseCli(usage, {
  room: { type: 'string' },
  role: { type: 'string' },
  name: { type: 'string' },
  ttl: { type: 'string' },
  sub: { type: 'string' },
  url: { type: 'string' },
  service: { type: 'string' },
  dashboard: { type: 'boolean' },
  'room-type': { type: 'string' },
});
const { values } = cli;
// Annotated, so that TypeScript narrows after a call to it.
const fail: (message: string) => never = cli.fail;
if (values.service !== undefined) {
  if (values.service !== 'analyzer') fail(`unknown service "${values.service}"`);
  const cfg = loadConfig();
  const ttl = values.ttl !== undefined ? Number(values.ttl) : 365 * 86400;
  if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive whole number of seconds');
  console.log(issueServiceToken(cfg.tokenSecret, { ttlSeconds: ttl, ...(values.sub ? { sub: values.sub } : {}) }));
  process.exit(0);
}
if (values.dashboard) {
  if (!values.name) fail('--name is required');
  if (values.role !== undefined && values.role !== 'supervisor') fail('dashboard links are for supervisors only');
  const cfg = loadConfig();
  const ttl = values.ttl !== undefined ? Number(values.ttl) : cfg.tokenTtlSeconds;
  if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive whole number of seconds');
  const token = issueToken(cfg.tokenSecret, { room: ALL_ROOMS, role: 'supervisor', name: values.name, ttlSeconds: ttl, ...(values.sub ? { sub: values.sub } : {}) });
  console.log(token);
  console.log(dashboardLink(values.url ?? cfg.publicUrl ?? `http://localhost:${cfg.port}`, token));
  process.exit(0);
}
if (!values.room || !values.role || !values.name) fail('--room, --role and --name are required');
if (!(ROLES as readonly string[]).includes(values.role)) fail(`unknown role "${values.role}"`);
const roomType = values['room-type'];
if (roomType !== undefined && !(ROOM_TYPES as readonly string[]).includes(roomType)) fail(`unknown room type "${roomType}" (${ROOM_TYPES.join(', ')})`);
if (roomType !== undefined && !isHost(values.role as Role)) fail('--room-type is for hosts (clinician, agent) only');
const config = loadConfig();
const ttl = values.ttl !== undefined ? Number(values.ttl) : config.tokenTtlSeconds;
if (!Number.isInteger(ttl) || ttl <= 0) fail('--ttl must be a positive whole number of seconds');
let token: string;
try {
  token = issueToken(config.tokenSecret, {
    room: values.room,
    role: values.role as Role,
    name: values.name,
    ttlSeconds: ttl,
    ...(values.sub ? { sub: values.sub } : {}),
    ...(roomType ? { roomType: roomType as RoomType } : {}),
  });
} catch (err) {
  fail(`cannot issue token: ${(err as Error).message}`);
}
console.log(token);
console.log(joinLink(values.url ?? config.publicUrl ?? `http://localhost:${config.port}`, values.room, token));
