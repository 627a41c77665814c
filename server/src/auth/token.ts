/**
 * Join tokens: base64url(JSON claims) + "." + base64url(HMAC-SHA256(secret, claims part)).
 * Signed by the server secret, expiring, naming room, role and display name.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ClientError } from '../errors.ts';
import { ErrorCode } from '../protocol/messages.ts';
import { RoomIdSchema } from '../protocol/messages.ts';
import { isHost, ROLES, ROOM_TYPES } from '../protocol/roles.ts';
import { ALL_ROOMS } from '../protocol/dashboard.ts';

export const TokenClaimsSchema = z.strictObject({
  v: z.literal(1),
  /** A call, or ALL_ROOMS ('*') for a supervisor who may watch every call (the dashboard). */
  room: z.union([RoomIdSchema, z.literal(ALL_ROOMS)]),
  role: z.enum(ROLES),
  name: z.string().trim().min(1).max(64),
  /** Stable participant id: a reconnect with the same token replaces the old session. */
  sub: z.string().min(1).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
  /** Hosts only: the kind of call this host opens (when a liveness check starts on its own; screening/StepUp.ts). */
  roomType: z.enum(ROOM_TYPES).optional(),
})
  .refine((c) => c.room !== ALL_ROOMS || c.role === 'supervisor', { message: 'only supervisors may hold an all-calls token', path: ['room'] })
  .refine((c) => c.roomType === undefined || isHost(c.role), { message: 'only hosts (clinician, agent) may set the room type', path: ['roomType'] });
export type TokenClaims = z.infer<typeof TokenClaimsSchema>;

/** A refused token; its message is safe to show the client that presented it. */
export class TokenError extends ClientError {
  override name = 'TokenError';
}

/** Tokens longer than this are refused before any parsing. */
const MAX_TOKEN_LENGTH = 2048;
/** Clock skew tolerated between the issuing and verifying hosts. */
const CLOCK_SKEW_S = 30;

/**
 * Whether a token (user or service) has expired at `nowMs`, allowing the clock skew. Checked at
 * connect and again on every join: a socket outlives the check made when it connected.
 */
export function tokenExpired(claims: { exp: number }, nowMs = Date.now()): boolean {
  return claims.exp + CLOCK_SKEW_S < Math.floor(nowMs / 1000);
}

/** The first moment (ms since the epoch) at which tokenExpired() holds: when a long-lived socket must go. */
export function tokenExpiresAt(claims: { exp: number }): number {
  return (claims.exp + CLOCK_SKEW_S + 1) * 1000;
}

/** setTimeout's longest delay; a token that lives longer re-arms its expiry timer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `expired` once, when the token expires (tokenExpiresAt), for a long-lived socket that must
 * go then, not at its next connect. Returns a function that cancels it (call it on disconnect).
 */
export function onTokenExpiry(claims: { exp: number }, expired: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = tokenExpiresAt(claims) - Date.now();
    if (left > 0) timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    else {
      timer = undefined;
      expired();
    }
  };
  arm();
  return () => clearTimeout(timer);
}

/**
 * Whether a token claims to be issued later than `nowMs`, beyond the clock skew. Such a token is
 * refused: it comes from a host whose clock is wrong or from someone who set its times by hand, and
 * its lifetime would run from a moment that has not come.
 */
export function tokenIssuedInFuture(claims: { iat: number }, nowMs = Date.now()): boolean {
  return claims.iat - CLOCK_SKEW_S > Math.floor(nowMs / 1000);
}

function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url');
}

export function assertUsableSecret(secret: string): void {
  if (Buffer.byteLength(secret) < 32) throw new Error('token secret must be at least 32 bytes');
}

export interface IssueOptions {
  room: string;
  role: TokenClaims['role'];
  name: string;
  ttlSeconds: number;
  sub?: string;
  now?: number;
  /** Hosts only: the kind of call their join opens. */
  roomType?: TokenClaims['roomType'];
}

export function issueToken(secret: string, opts: IssueOptions): string {
  assertUsableSecret(secret);
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims = TokenClaimsSchema.parse({
    v: 1,
    room: opts.room,
    role: opts.role,
    name: opts.name,
    sub: opts.sub ?? randomUUID(),
    iat,
    exp: iat + opts.ttlSeconds,
    ...(opts.roomType ? { roomType: opts.roomType } : {}),
  });
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${body}.${sign(secret, body)}`;
}

export interface VerifyOptions {
  /** When given, the token must name this room. */
  room?: string;
  now?: number;
}

export function verifyToken(secret: string, token: unknown, opts: VerifyOptions = {}): TokenClaims {
  if (typeof token !== 'string' || token.length === 0) {
    throw new TokenError(ErrorCode.TokenMissing, 'No join token was given.');
  }
  const parts = token.length <= MAX_TOKEN_LENGTH ? token.split('.') : [];
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new TokenError(ErrorCode.TokenMalformed, 'The join token is malformed.');
  }
  const [body, mac] = parts as [string, string];
  const expected = Buffer.from(sign(secret, body));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new TokenError(ErrorCode.TokenBadSignature, 'The join token signature is not valid.');
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError(ErrorCode.TokenMalformed, 'The join token is malformed.');
  }
  const parsed = TokenClaimsSchema.safeParse(json);
  if (!parsed.success) {
    throw new TokenError(ErrorCode.TokenMalformed, 'The join token has invalid claims.');
  }
  const claims = parsed.data;
  if (tokenExpired(claims, opts.now)) {
    throw new TokenError(ErrorCode.TokenExpired, 'The join link has expired. Ask for a new one.');
  }
  if (tokenIssuedInFuture(claims, opts.now)) {
    throw new TokenError(ErrorCode.TokenMalformed, 'The join link is not valid yet: it was issued in the future (check the clock of the host that made it).');
  }
  if (opts.room !== undefined && claims.room !== opts.room) {
    throw new TokenError(ErrorCode.TokenWrongRoom, `This join link is for another room, not "${opts.room}".`);
  }
  return claims;
}

/**
 * Service credentials (the analyzer): a separate claim set signed with a key derived from the
 * server secret, so a user token can never pass as a service token or the other way round.
 */
export const ServiceClaimsSchema = z.strictObject({
  v: z.literal(1),
  svc: z.literal('analyzer'),
  sub: z.string().min(1).max(64),
  iat: z.number().int(),
  exp: z.number().int(),
});
export type ServiceClaims = z.infer<typeof ServiceClaimsSchema>;

function serviceKey(secret: string): string {
  return createHmac('sha256', secret).update('deepfake-shield service token v1').digest('base64url');
}

export function issueServiceToken(secret: string, opts: { ttlSeconds: number; sub?: string; now?: number }): string {
  assertUsableSecret(secret);
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims: ServiceClaims = { v: 1, svc: 'analyzer', sub: opts.sub ?? `analyzer-${randomUUID().slice(0, 8)}`, iat, exp: iat + opts.ttlSeconds };
  const body = Buffer.from(JSON.stringify(ServiceClaimsSchema.parse(claims))).toString('base64url');
  return `svc.${body}.${sign(serviceKey(secret), body)}`;
}

export function isServiceToken(token: unknown): boolean {
  return typeof token === 'string' && token.startsWith('svc.');
}

export function verifyServiceToken(secret: string, token: unknown, opts: { now?: number } = {}): ServiceClaims {
  if (!isServiceToken(token)) throw new TokenError(ErrorCode.TokenMalformed, 'Not a service token.');
  const [, body, mac] = (token as string).length <= MAX_TOKEN_LENGTH ? (token as string).split('.') : [];
  if (!body || !mac) throw new TokenError(ErrorCode.TokenMalformed, 'The service token is malformed.');
  const expected = Buffer.from(sign(serviceKey(secret), body));
  const given = Buffer.from(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new TokenError(ErrorCode.TokenBadSignature, 'The service token signature is not valid.');
  }
  let parsed;
  try {
    parsed = ServiceClaimsSchema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
  } catch {
    throw new TokenError(ErrorCode.TokenMalformed, 'The service token is malformed.');
  }
  if (!parsed.success) throw new TokenError(ErrorCode.TokenMalformed, 'The service token has invalid claims.');
  if (tokenExpired(parsed.data, opts.now)) {
    throw new TokenError(ErrorCode.TokenExpired, 'The service token has expired.');
  }
  if (tokenIssuedInFuture(parsed.data, opts.now)) {
    throw new TokenError(ErrorCode.TokenMalformed, 'The service token is not valid yet: it was issued in the future (check the clocks).');
  }
  return parsed.data;
}
