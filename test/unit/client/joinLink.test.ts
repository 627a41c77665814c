import { describe, expect, it } from 'vitest';
import { currentJoinLink, parseJoinLink, takeToken, type TokenPage } from '../../../client/src/lib/joinLink.ts';

/** A page at `url` with a working history and session storage (shared across "reloads" via `store`). */
function page(url: string, store = new Map<string, string>()): TokenPage & { url: () => string; store: Map<string, string> } {
  let current = new URL(url, 'https://shield.example');
  const location = {
    get pathname() {
      return current.pathname;
    },
    get search() {
      return current.search;
    },
    get hash() {
      return current.hash;
    },
  };
  return {
    location,
    history: { state: null, replaceState: (_s: unknown, _t: string, u?: string | URL | null) => void (current = new URL(String(u), current)) },
    sessionStorage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) },
    url: () => `${current.pathname}${current.search}${current.hash}`,
    store,
  };
}

// A token whose body says { role: 'patient', name: 'Ann' } (the client reads it for display only).
const TOKEN = `${btoa(JSON.stringify({ role: 'patient', name: 'Ann' })).replace(/=+$/, '')}.sig`;

describe('join link: the token leaves the address bar', () => {
  it('reads the link, then the URL shows no token; a reload in the same tab still joins', () => {
    const store = new Map<string, string>();
    const p = page(`/room/demo?token=${encodeURIComponent(TOKEN)}&lang=fr#x`, store);
    expect(currentJoinLink(p)).toEqual({ room: 'demo', token: TOKEN, role: 'patient', name: 'Ann' });
    expect(p.url()).toBe('/room/demo?lang=fr#x');
    // Every later reader on this page gets the same link (the call tools read it after the app).
    expect(currentJoinLink(p)?.token).toBe(TOKEN);

    const reloaded = page(p.url(), store);
    expect(currentJoinLink(reloaded)?.token).toBe(TOKEN);
    // Another path (another call) does not get this call's token.
    expect(currentJoinLink(page('/room/other', store))).toBeUndefined();
  });

  it('the dashboard reads its token the same way', () => {
    const p = page('/dashboard?token=abc');
    expect(new URLSearchParams(takeToken(p).search).get('token')).toBe('abc');
    expect(p.url()).toBe('/dashboard');
  });

  it('storage that throws (a privacy mode) only costs the reload', () => {
    const p = page('/room/demo?token=t1');
    p.sessionStorage.setItem = () => {
      throw new Error('SecurityError');
    };
    expect(currentJoinLink(p)?.token).toBe('t1');
    expect(p.url()).toBe('/room/demo');
  });

  it('a malformed room in the path is no link, not a crash', () => {
    expect(parseJoinLink({ pathname: '/room/%E0%A4%A', search: '?token=t' })).toBeUndefined();
    expect(parseJoinLink({ pathname: '/room/demo', search: '' })).toBeUndefined();
  });
});

describe('join link: the token in the fragment, which never reaches the server', () => {
  it('reads #token=, then the URL shows no token; a reload in the same tab still joins', () => {
    const store = new Map<string, string>();
    const p = page(`/room/demo?lang=fr#token=${encodeURIComponent(TOKEN)}`, store);
    expect(currentJoinLink(p)).toEqual({ room: 'demo', token: TOKEN, role: 'patient', name: 'Ann' });
    expect(p.url()).toBe('/room/demo?lang=fr');
    expect(currentJoinLink(page(p.url(), store))?.token).toBe(TOKEN);
  });

  it('a fragment token wins over a query one (a link pasted onto an old one), and other fragment keys stay', () => {
    const p = page('/dashboard?token=old#view=alerts&token=new');
    expect(new URLSearchParams(takeToken(p).search).get('token')).toBe('new');
    expect(p.url()).toBe('/dashboard#view=alerts');
  });

  it('the server makes links of that shape, and the client reads them back', async () => {
    const { joinLink, dashboardLink } = await import('../../../server/src/http/joinLink.ts');
    const link = new URL(joinLink('https://shield.example/', 'ward 7', TOKEN));
    expect(link.search).toBe('');
    expect(currentJoinLink(page(`${link.pathname}${link.search}${link.hash}`))).toEqual({ room: 'ward 7', token: TOKEN, role: 'patient', name: 'Ann' });
    expect(new URL(dashboardLink('https://shield.example', 'abc')).hash).toBe('#token=abc');
  });
});
