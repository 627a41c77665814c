/** Debian's Chromium driven by playwright-core, with a fake camera and microphone. */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { joinLink } from '../../server/src/http/joinLink.ts';
import type { MediaStats } from '../../server/src/protocol/CallSession.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function assertChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install it (Debian: apt-get install -y chromium) or set CHROMIUM_PATH.`);
  }
}

export interface LaunchOptions {
  /** Grant camera and microphone without asking (the default), or deny every permission prompt. */
  permissions?: 'grant' | 'deny';
  /** A .y4m file the fake camera plays (looped) instead of Chromium's test pattern. */
  fakeVideo?: string;
}

export async function launchChromium(opts: LaunchOptions = {}): Promise<{ browser: Browser; close: () => Promise<void> }> {
  assertChromium();
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--allow-loopback-in-peer-connection',
      '--use-fake-device-for-media-stream=fps=30',
      '--autoplay-policy=no-user-gesture-required',
      opts.permissions === 'deny' ? '--deny-permission-prompts' : '--use-fake-ui-for-media-stream',
      ...(opts.fakeVideo ? [`--use-file-for-fake-video-capture=${opts.fakeVideo}`] : []),
    ],
  });
  // playwright gives every launch a fresh, temporary profile.
  return { browser, close: () => browser.close() };
}

export async function openJoinLink(browser: Browser, url: string, room: string, token: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`));
  const who = (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString() || '{}') as { role?: string }).role;
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning' || process.env.E2E_CONSOLE) console.error(`[${who} page ${msg.type()}] ${msg.text()}`);
  });
  await page.goto(joinLink(url, room, token));
  return page;
}

export async function joinThroughUi(page: Page): Promise<void> {
  // Generous: on two cores, three browsers and the analyzer compete for the CPU.
  await page.getByTestId('join').click({ timeout: 30000 });
  await page.getByTestId('call').waitFor({ timeout: 30000 });
}

export function pageStats(page: Page): Promise<MediaStats> {
  return page.evaluate(() => (window as unknown as { __deepfakeShield: { stats(): Promise<MediaStats> } }).__deepfakeShield.stats());
}

/** Polls until the page decodes video and receives audio from the given participant. */
export async function waitForMediaFrom(page: Page, participantId: string, timeoutMs = 10000): Promise<MediaStats> {
  const end = Date.now() + timeoutMs;
  let last: MediaStats | undefined;
  while (Date.now() < end) {
    last = await pageStats(page);
    const from = last.inbound.filter((s) => s.participantId === participantId);
    const video = from.find((s) => s.kind === 'video' && s.framesDecoded > 0);
    const audio = from.find((s) => s.kind === 'audio' && s.packets > 0);
    if (video && audio) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`no decoded video and audio from ${participantId} within ${timeoutMs} ms; last stats ${JSON.stringify(last)}`);
}
