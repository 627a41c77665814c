import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { issueServiceToken, issueToken, TokenError, verifyServiceToken, verifyToken } from '../../server/src/auth/token.ts';
import { ErrorCode } from '../../server/src/protocol/messages.ts';

const SECRET = 'unit-test-secret-0123456789abcdef0123456789';
const base = { room: 'demo', role: 'clinician' as const, name: 'Dr. Who', ttlSeconds: 600 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof TokenError) return err.code;
    throw err;
  }
  return undefined;
}

describe('join tokens', () => {
  it('all-calls tokens (the dashboard) are for supervisors only, also when forged with a valid signature', () => {
    const claims = verifyToken(SECRET, issueToken(SECRET, { ...base, room: '*', role: 'supervisor' }));
    expect(claims.room).toBe('*');
    expect(() => issueToken(SECRET, { ...base, room: '*', role: 'clinician' })).toThrow(/only supervisors/);
    // Signed by someone holding the secret but with claims the schema refuses: still refused.
    const body = Buffer.from(JSON.stringify({ v: 1, room: '*', role: 'patient', name: 'P', sub: 'p', iat: 1, exp: 4e9 })).toString('base64url');
    const forged = `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
    expect(codeOf(() => verifyToken(SECRET, forged))).toBe(ErrorCode.TokenMalformed);
    expect(() => issueToken(SECRET, { ...base, room: '**' })).toThrow();
  });

  it('a host may name the room type of the call it opens; an analysed caller may not pick its own screening', () => {
    expect(verifyToken(SECRET, issueToken(SECRET, { ...base, roomType: 'kyc' })).roomType).toBe('kyc');
    expect(verifyToken(SECRET, issueToken(SECRET, base)).roomType).toBeUndefined();
    expect(() => issueToken(SECRET, { ...base, role: 'patient', roomType: 'off' })).toThrow(/only hosts/);
    const body = Buffer.from(JSON.stringify({ v: 1, room: 'demo', role: 'customer', name: 'C', sub: 'c', iat: 1, exp: 4e9, roomType: 'off' })).toString('base64url');
    expect(codeOf(() => verifyToken(SECRET, `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`))).toBe(ErrorCode.TokenMalformed);
  });

  it('round-trips room, role and name', () => {
    const claims = verifyToken(SECRET, issueToken(SECRET, { ...base, sub: 'p1' }), { room: 'demo' });
    expect(claims).toMatchObject({ room: 'demo', role: 'clinician', name: 'Dr. Who', sub: 'p1' });
    expect(claims.exp - claims.iat).toBe(600);
  });

  it('rejects an expired token, and accepts one inside the clock-skew allowance', () => {
    const issuedAt = Date.parse('2026-01-01T00:00:00Z');
    const token = issueToken(SECRET, { ...base, now: issuedAt });
    expect(codeOf(() => verifyToken(SECRET, token, { now: issuedAt + 600_000 + 10_000 }))).toBeUndefined();
    expect(codeOf(() => verifyToken(SECRET, token, { now: issuedAt + 600_000 + 31_000 }))).toBe(ErrorCode.TokenExpired);
  });

  it('rejects a token issued in the future beyond the clock skew, join and service tokens alike', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    // A host whose clock runs 10 s fast: within the skew allowance.
    expect(codeOf(() => verifyToken(SECRET, issueToken(SECRET, { ...base, now: now + 10_000 }), { now }))).toBeUndefined();
    expect(codeOf(() => verifyServiceToken(SECRET, issueServiceToken(SECRET, { ttlSeconds: 600, now: now + 10_000 }), { now }))).toBeUndefined();
    // An hour ahead: refused, with a reason, though signed and unexpired.
    const early = issueToken(SECRET, { ...base, now: now + 3600_000 });
    expect(codeOf(() => verifyToken(SECRET, early, { now }))).toBe(ErrorCode.TokenMalformed);
    expect(() => verifyToken(SECRET, early, { now })).toThrow(/issued in the future/);
    expect(codeOf(() => verifyServiceToken(SECRET, issueServiceToken(SECRET, { ttlSeconds: 600, now: now + 3600_000 }), { now }))).toBe(ErrorCode.TokenMalformed);
    // Once its time has come, the same token is good.
    expect(codeOf(() => verifyToken(SECRET, early, { now: now + 3600_000 }))).toBeUndefined();
  });

  it('rejects a token whose claims were tampered with', () => {
    const [body, mac] = issueToken(SECRET, { ...base, role: 'patient' }).split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    claims.role = 'supervisor';
    const forged = `${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${mac}`;
    expect(codeOf(() => verifyToken(SECRET, forged))).toBe(ErrorCode.TokenBadSignature);
  });

  it('rejects a token signed with another secret', () => {
    const token = issueToken('another-secret-0123456789abcdef0123456789', base);
    expect(codeOf(() => verifyToken(SECRET, token))).toBe(ErrorCode.TokenBadSignature);
  });

  it('rejects a token for another room', () => {
    const token = issueToken(SECRET, { ...base, room: 'room-a' });
    expect(codeOf(() => verifyToken(SECRET, token, { room: 'room-b' }))).toBe(ErrorCode.TokenWrongRoom);
  });

  it.each([
    ['missing', undefined, ErrorCode.TokenMissing],
    ['empty', '', ErrorCode.TokenMissing],
    ['not a string', 42, ErrorCode.TokenMissing],
    ['no signature', 'abc', ErrorCode.TokenMalformed],
    ['three parts', 'a.b.c', ErrorCode.TokenMalformed],
    ['huge', 'a'.repeat(5000) + '.b', ErrorCode.TokenMalformed],
  ])('rejects a %s token', (_label, token, code) => {
    expect(codeOf(() => verifyToken(SECRET, token))).toBe(code);
  });

  it('rejects a correctly signed token with invalid claims', () => {
    const body = Buffer.from(JSON.stringify({ v: 1, room: 'demo', role: 'admin', name: 'x', sub: 's', iat: 1, exp: 9e9 })).toString('base64url');
    const token = `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
    expect(codeOf(() => verifyToken(SECRET, token))).toBe(ErrorCode.TokenMalformed);
  });

  it('refuses to issue with a short secret or bad claims', () => {
    expect(() => issueToken('short', base)).toThrow(/at least 32 bytes/);
    expect(() => issueToken(SECRET, { ...base, room: 'bad room!' })).toThrow();
    expect(() => issueToken(SECRET, { ...base, name: '   ' })).toThrow();
  });
});

describe('service tokens', () => {
  it('round-trip, and neither kind of token passes as the other', () => {
    const svc = issueServiceToken(SECRET, { ttlSeconds: 60, sub: 'analyzer-1' });
    expect(verifyServiceToken(SECRET, svc)).toMatchObject({ svc: 'analyzer', sub: 'analyzer-1' });
    expect(codeOf(() => verifyToken(SECRET, svc))).toBe(ErrorCode.TokenMalformed);
    expect(codeOf(() => verifyServiceToken(SECRET, issueToken(SECRET, base)))).toBe(ErrorCode.TokenMalformed);
    // A user token's body re-signed as a service token with the user key does not verify.
    const [body, mac] = issueToken(SECRET, base).split('.');
    expect(codeOf(() => verifyServiceToken(SECRET, `svc.${body}.${mac}`))).toBe(ErrorCode.TokenBadSignature);
  });

  it('expire and reject another secret', () => {
    const old = issueServiceToken(SECRET, { ttlSeconds: 60, now: Date.parse('2026-01-01T00:00:00Z') });
    expect(codeOf(() => verifyServiceToken(SECRET, old))).toBe(ErrorCode.TokenExpired);
    const other = issueServiceToken('another-secret-0123456789abcdef0123456789', { ttlSeconds: 60 });
    expect(codeOf(() => verifyServiceToken(SECRET, other))).toBe(ErrorCode.TokenBadSignature);
  });
});
