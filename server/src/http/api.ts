/**
 * The HTTP API for people and tools holding a token (documented in the README, "HTTP API"):
 *
 *   GET  /api/calls/:room/record[?call=ID]       the case record of the room's latest (or a given) call, JSON
 *   GET  /api/calls/:room/record.html[?call=ID]  the same as a printable page
 *   GET  /api/calls/:room/records                the room's recent calls (ids and times)
 *   POST /api/calls/:room/invites                a host creates an analysed participant's join link
 *   POST /api/calls/:room/outcome                what a call turned out to be: a confirmed fraud or genuine
 *
 * The token goes in `Authorization: Bearer <token>`; the GETs also take `?token=` so that a
 * browser can open or download the record from a link (pages are no-store, no-referrer, as the
 * call pages are). POST takes the header only: a form on another site cannot send it.
 *
 * Who may read a record: clinicians, agents and supervisors holding a token for that room, and
 * supervisors with an all-calls (dashboard) token. Patients and customers never (403): the record
 * is risk data. Who may create an invite: hosts (clinician, agent) of that room only. Who may mark
 * an outcome: whoever may read that call's record (the mark is appended, with who made it: the
 * audit log keeps every mark; `npm run calibrate -- --from-audit` learns from the latest).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AuditLog } from '../audit/AuditLog.ts';
import { buildCaseRecord, PAGE_SCRIPT, renderCaseRecordHtml } from '../audit/CaseRecord.ts';
import { issueToken, verifyToken, type TokenClaims } from '../auth/token.ts';
import { ClientError } from '../errors.ts';
import { logger } from '../log.ts';
import { CASE_OUTCOMES } from '../protocol/caseRecord.ts';
import { ALL_ROOMS } from '../protocol/dashboard.ts';
import { ErrorCode, RoomIdSchema } from '../protocol/messages.ts';
import { ANALYSED_ROLES, isAnalysed, isHost, isPrivileged } from '../protocol/roles.ts';
import { joinLink } from './joinLink.ts';

export interface ApiOptions {
  tokenSecret: string;
  /** Default lifetime of an invite link (TOKEN_TTL_SECONDS). */
  tokenTtlSeconds: number;
  publicUrl?: string | undefined;
  audit: AuditLog;
  /** The audit log's id of the call running now in a room, if any. */
  liveCallId: (room: string) => number | undefined;
}

const log = logger('api');

/** Invites live at most a day: a link in an e-mail should not open a call next month. */
const MAX_INVITE_TTL_S = 86_400;
const MAX_BODY_BYTES = 4096;
/** Outcome marks kept per screened person and call (POST .../outcome). */
export const MAX_OUTCOME_MARKS = 20;

export const InviteRequestSchema = z.strictObject({
  /** The analysed role; default: patient for a clinician's call, customer for an agent's. */
  role: z.enum(ANALYSED_ROLES).optional(),
  name: z.string().trim().min(1).max(64),
  ttlSeconds: z.number().int().min(60).max(MAX_INVITE_TTL_S).optional(),
});

export const OutcomeRequestSchema = z.strictObject({
  /** The call's id in the audit log (GET .../records lists them; the record says its own). */
  call: z.number().int().positive(),
  /** The analysed participant (patient or customer) the outcome is about. */
  participantId: z.string().min(1).max(128),
  outcome: z.enum(CASE_OUTCOMES),
  note: z.string().trim().max(500).optional(),
});

const HEADERS = { 'cache-control': 'no-store', 'referrer-policy': 'no-referrer', 'x-content-type-options': 'nosniff' };
// connect-src: the page's own script marks the outcome (POST .../outcome) on this origin, nowhere else.
const PAGE_CSP = `default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-${createHash('sha256').update(PAGE_SCRIPT).digest('base64')}'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'`;

class HttpError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...HEADERS }).end(JSON.stringify(body));
}

function bearer(req: IncomingMessage, url: URL, allowQuery: boolean): string | undefined {
  const h = req.headers.authorization;
  if (h?.startsWith('Bearer ')) return h.slice(7).trim();
  return allowQuery ? (url.searchParams.get('token') ?? undefined) : undefined;
}

function authenticate(secret: string, token: string | undefined): TokenClaims {
  try {
    return verifyToken(secret, token);
  } catch (err) {
    if (err instanceof ClientError) throw new HttpError(401, err.code, err.message);
    throw err;
  }
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, ErrorCode.BadRequest, `The request body is over ${MAX_BODY_BYTES} bytes.`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(size ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {});
      } catch {
        reject(new HttpError(400, ErrorCode.BadRequest, 'The request body is not JSON.'));
      }
    });
    req.on('error', reject);
  });
}

/** Returns a request handler that answers /api/* (true) and leaves everything else (false). */
export function api(opts: ApiOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!url.pathname.startsWith('/api/')) return false;
    handle(opts, req, res, url).catch((err: unknown) => {
      if (res.headersSent) return;
      if (err instanceof HttpError) send(res, err.status, { error: { code: err.code, message: err.message } });
      else send(res, 500, { error: { code: ErrorCode.Internal, message: 'Internal error.' } });
    });
    return true;
  };
}

async function handle(opts: ApiOptions, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const m = /^\/api\/calls\/([^/]+)\/(record|record\.html|records|invites|outcome)$/.exec(url.pathname);
  if (!m) throw new HttpError(404, ErrorCode.BadRequest, 'No such API endpoint.');
  let decoded: string;
  try {
    decoded = decodeURIComponent(m[1]!);
  } catch {
    throw new HttpError(400, ErrorCode.BadRequest, 'Not a valid room id.');
  }
  const room = RoomIdSchema.safeParse(decoded);
  if (!room.success) throw new HttpError(400, ErrorCode.BadRequest, 'Not a valid room id.');
  const what = m[2]!;

  if (what === 'invites') {
    if (req.method !== 'POST') throw new HttpError(405, ErrorCode.BadRequest, 'Use POST.');
    const claims = authenticate(opts.tokenSecret, bearer(req, url, false));
    if (!isHost(claims.role) || claims.room !== room.data) throw new HttpError(403, ErrorCode.Forbidden, 'Only the host of this call (a clinician or agent with a link to it) can create invite links.');
    const body = InviteRequestSchema.safeParse(await readBody(req));
    if (!body.success) throw new HttpError(400, ErrorCode.BadRequest, `Invalid invite: ${body.error.issues[0]?.path.join('.') || 'body'}: ${body.error.issues[0]?.message ?? 'malformed'}.`);
    const role = body.data.role ?? (claims.role === 'agent' ? 'customer' : 'patient');
    const ttl = Math.min(body.data.ttlSeconds ?? opts.tokenTtlSeconds, MAX_INVITE_TTL_S);
    const token = issueToken(opts.tokenSecret, { room: room.data, role, name: body.data.name, ttlSeconds: ttl });
    const base = opts.publicUrl ?? `http://${req.headers.host ?? 'localhost'}`;
    const link = joinLink(base, room.data, token);
    send(res, 201, { url: link, path: link.slice(base.length), room: room.data, role, name: body.data.name, expiresAt: (Math.floor(Date.now() / 1000) + ttl) * 1000 });
    return;
  }

  const writing = what === 'outcome';
  if (writing ? req.method !== 'POST' : req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, ErrorCode.BadRequest, writing ? 'Use POST.' : 'Use GET.');
  const claims = authenticate(opts.tokenSecret, bearer(req, url, !writing));
  if (!isPrivileged(claims.role)) throw new HttpError(403, ErrorCode.Forbidden, 'Case records are for clinicians, agents and supervisors only.');
  if (claims.room !== room.data && claims.room !== ALL_ROOMS) throw new HttpError(403, ErrorCode.Forbidden, `This link is for another room, not "${room.data}".`);

  // A link to one room reads the records of the calls its holder took part in, not every sitting
  // ever held in that room (another clinician's patients); the dashboard's all-calls link reads all.
  // One query each, in SQL (not one per call): a busy room has thousands of sittings.
  const reader = claims.room === ALL_ROOMS ? undefined : claims.sub;
  const mayRead = (id: number): boolean => reader === undefined || opts.audit.tookPart(id, reader);
  if (writing) {
    const body = OutcomeRequestSchema.safeParse(await readBody(req));
    if (!body.success) throw new HttpError(400, ErrorCode.BadRequest, `Invalid outcome: ${body.error.issues[0]?.path.join('.') || 'body'}: ${body.error.issues[0]?.message ?? 'malformed'}.`);
    const { call, participantId, outcome, note } = body.data;
    if (opts.audit.call(call)?.room !== room.data || !mayRead(call)) throw new HttpError(404, ErrorCode.BadRequest, `No call ${call} in room "${room.data}".`);
    // Only a screened person's call has an outcome: the clinician's own is not a fraud or not.
    const who = opts.audit.callParticipants(call).find((p) => p.participantId === participantId && isAnalysed(p.role));
    if (!who) throw new HttpError(404, ErrorCode.BadRequest, `No patient or customer "${participantId.slice(0, 64)}" in call ${call}.`);
    // Appended, never overwritten: bounded per person and call, so that a looping client cannot
    // grow the log without end (a person changing their mind a few times is far under it).
    if (opts.audit.callOutcomes(call).filter((o) => o.participantId === participantId).length >= MAX_OUTCOME_MARKS) {
      throw new HttpError(429, ErrorCode.RateLimited, `Call ${call} already has ${MAX_OUTCOME_MARKS} outcome marks for this person; the latest counts.`);
    }
    try {
      opts.audit.outcomeMarked(call, participantId, outcome, { id: claims.sub, role: claims.role, name: claims.name }, note || undefined);
    } catch (err) {
      log.error('audit write failed', { what: 'case outcome', error: err instanceof Error ? err.message : String(err) });
      throw new HttpError(503, ErrorCode.Internal, 'The audit log cannot record this now; nothing was saved. Try again later.');
    }
    log.info('case outcome marked', { room: room.data, call, outcome, byRole: claims.role });
    send(res, 201, { call, participantId, name: who.name, outcome, by: claims.name, ...(note ? { note } : {}) });
    return;
  }
  if (what === 'records') {
    send(res, 200, { room: room.data, calls: opts.audit.callsInRoom(room.data, 20, reader) });
    return;
  }
  let callId: number | undefined;
  const asked = url.searchParams.get('call');
  if (asked !== null) {
    callId = /^\d{1,12}$/.test(asked) ? Number(asked) : NaN;
    if (!Number.isFinite(callId) || opts.audit.call(callId)?.room !== room.data || !mayRead(callId)) throw new HttpError(404, ErrorCode.BadRequest, `No call ${asked.slice(0, 20)} in room "${room.data}".`);
  } else {
    const live = opts.liveCallId(room.data);
    callId = live !== undefined && mayRead(live) ? live : opts.audit.callsInRoom(room.data, 1, reader)[0]?.id;
  }
  const record = callId === undefined ? undefined : buildCaseRecord(opts.audit, callId);
  if (!record) throw new HttpError(404, ErrorCode.BadRequest, `No call has been held in room "${room.data}".`);
  const stamp = new Date(record.openedAt).toISOString().slice(0, 16).replace(/[:T]/g, '-');
  if (what === 'record.html') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP, 'x-frame-options': 'DENY', ...HEADERS }).end(renderCaseRecordHtml(record));
    return;
  }
  const download = url.searchParams.has('download') ? { 'content-disposition': `attachment; filename="case-record-${record.room}-${stamp}-call-${record.callId}.json"` } : {};
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...HEADERS, ...download }).end(JSON.stringify(record, null, 2));
}
