/**
 * Page checks shared by the UI tests (call page, patient page, dashboard): layout from bounding
 * boxes, accessibility with axe-core, and screenshots kept as CI artefacts.
 *
 * Layout, as a person at that screen size would meet it:
 *  - every control (button, link, input, select, summary, anything focusable) can be seen inside
 *    the viewport: where it sits in a scrolling panel it is scrolled to first, and it must then lie
 *    inside the viewport and be the topmost thing at its centre (not under a video or a toast);
 *  - `fixed` controls (Leave, End call, Acknowledge...) must be inside the viewport as the page is,
 *    without scrolling anything;
 *  - no two controls overlap (bounding boxes, as shown);
 *  - with `pageScroll: false` (app-like pages: the call) the page itself never scrolls.
 * Screenshots go to test-artifacts/<dir>/ (gitignored; CI keeps the folder).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Page } from 'playwright-core';

export const ARTIFACTS_DIR = path.resolve(import.meta.dirname, '../../test-artifacts');

/** The sizes the UI must work at: desktop, small laptop, tablet, phone. */
export const VIEWPORTS = [
  { width: 1440, height: 900 },
  { width: 1280, height: 720 },
  { width: 1024, height: 768 },
  { width: 390, height: 844 },
] as const;

export interface LayoutOptions {
  /** Selectors of controls that must be in view without any scrolling. */
  fixed?: string[];
  /** Whether the document itself may scroll (default true). */
  pageScroll?: boolean;
  /** Selectors of elements (not controls) that must not cover or overlap any control, e.g. the self-view. */
  noCover?: string[];
}

const CONTROLS = 'button, a[href], input:not([type=hidden]), select, textarea, summary, [role=button], [tabindex]:not([tabindex="-1"])';

/** Problems found, in words; empty when the layout is fine. */
export async function layoutProblems(page: Page, opts: LayoutOptions = {}): Promise<string[]> {
  return page.evaluate(
    ({ sel, fixed, pageScroll, noCover }) => {
      const problems: string[] = [];
      const W = window.innerWidth;
      const H = window.innerHeight;
      const name = (el: Element): string => {
        const t = (el.getAttribute('aria-label') || (el as HTMLElement).innerText || (el as HTMLInputElement).placeholder || el.getAttribute('data-testid') || el.tagName).trim().replace(/\s+/g, ' ');
        return `${el.tagName.toLowerCase()} "${t.slice(0, 40)}"`;
      };
      const shown = (el: Element): boolean => {
        const r = el.getBoundingClientRect();
        if (r.width === 0 || r.height === 0) return false;
        const cs = getComputedStyle(el);
        return cs.visibility !== 'hidden' && cs.display !== 'none' && Number(cs.opacity) > 0;
      };
      const inside = (r: DOMRect): boolean => r.left >= -0.5 && r.top >= -0.5 && r.right <= W + 0.5 && r.bottom <= H + 0.5;
      const onTop = (el: Element): boolean => {
        const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return !!hit && (hit === el || el.contains(hit) || hit.contains(el) && hit.tagName === 'LABEL');
      };
      // Controls inside a closed <details> other than its <summary> are not shown: skip them.
      const controls = [...document.querySelectorAll(sel)].filter(shown).filter((el) => {
        const d = el.parentElement?.closest('details');
        return !d || d.open || el.tagName === 'SUMMARY' && el.parentElement === d;
      });
      if (!pageScroll) {
        const se = document.scrollingElement!;
        if (se.scrollHeight > H + 1 || se.scrollWidth > W + 1) problems.push(`the page scrolls: ${se.scrollWidth}x${se.scrollHeight} in a ${W}x${H} viewport`);
      }
      for (const f of fixed) {
        const els = [...document.querySelectorAll(f)].filter(shown);
        if (!els.length) problems.push(`fixed control ${f} is not shown`);
        for (const el of els) {
          if (!inside(el.getBoundingClientRect())) problems.push(`${name(el)} (${f}) is outside the viewport without scrolling`);
          else if (!onTop(el)) problems.push(`${name(el)} (${f}) is covered by ${name(document.elementFromPoint(el.getBoundingClientRect().left + 2, el.getBoundingClientRect().top + 2)!)}`);
        }
      }
      // The part of an element its scrolling ancestors let show (a control scrolled out of a panel
      // is hidden by the panel, not lying under whatever is outside it); null when none shows.
      const clipped = (el: Element): DOMRect | null => {
        let { left, top, right, bottom } = el.getBoundingClientRect();
        for (let p = el.parentElement; p; p = p.parentElement) {
          const cs = getComputedStyle(p);
          if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
          const pr = p.getBoundingClientRect();
          left = Math.max(left, pr.left);
          top = Math.max(top, pr.top);
          right = Math.min(right, pr.right);
          bottom = Math.min(bottom, pr.bottom);
        }
        return right - left > 1 && bottom - top > 1 ? new DOMRect(left, top, right - left, bottom - top) : null;
      };
      // Overlaps, as laid out now, of what shows (controls scrolled out of a panel are checked below, scrolled in).
      const boxes = controls.flatMap((el) => {
        const r = clipped(el);
        return r ? [{ el, r }] : [];
      });
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i]!;
          const b = boxes[j]!;
          if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
          const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
          const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
          if (w > 1 && h > 1) problems.push(`${name(a.el)} and ${name(b.el)} overlap (${Math.round(w)}x${Math.round(h)} px)`);
        }
      }
      for (const c of noCover) {
        for (const cover of [...document.querySelectorAll(c)].filter(shown)) {
          const cr = cover.getBoundingClientRect();
          for (const { el, r } of boxes) {
            if (cover.contains(el)) continue;
            const w = Math.min(cr.right, r.right) - Math.max(cr.left, r.left);
            const h = Math.min(cr.bottom, r.bottom) - Math.max(cr.top, r.top);
            if (w > 1 && h > 1) problems.push(`${c} covers ${name(el)}`);
          }
        }
      }
      // Every control can be brought into view: scroll its panels (not the page, when it must not scroll) and look.
      const scrolled: Array<[Element, number, number]> = [];
      for (const el of controls) {
        for (let p = el.parentElement; p; p = p.parentElement) scrolled.push([p, p.scrollTop, p.scrollLeft]);
        el.scrollIntoView({ block: 'nearest', inline: 'nearest' });
        const r = el.getBoundingClientRect();
        if (!inside(r)) problems.push(`${name(el)} cannot be brought inside the viewport (at ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)})`);
        else if (!onTop(el)) {
          const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
          problems.push(`${name(el)} is covered by ${hit ? name(hit) : 'nothing'}`);
        }
      }
      for (const [p, top, left] of scrolled.reverse()) {
        p.scrollTop = top;
        p.scrollLeft = left;
      }
      window.scrollTo(0, 0);
      return [...new Set(problems)];
    },
    { sel: CONTROLS, fixed: opts.fixed ?? [], pageScroll: opts.pageScroll ?? true, noCover: opts.noCover ?? [] },
  );
}

/** Saves a full-viewport screenshot under test-artifacts/<dir>/<name>.png; returns its path. */
export async function screenshot(page: Page, dir: string, name: string): Promise<string> {
  const out = path.join(ARTIFACTS_DIR, dir);
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `${name.replace(/[^\w.-]+/g, '_')}.png`);
  await page.screenshot({ path: file });
  return file;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A and AA rules). */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  // Through the DevTools protocol: the app's Content-Security-Policy refuses inline scripts (addScriptTag).
  if (!(await page.evaluate(() => 'axe' in window))) {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Runtime.evaluate', { expression: AXE_SOURCE });
    await cdp.detach();
  }
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: unknown, opts: unknown): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[]; failureSummary?: string }> }> }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary ?? ''}`) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * Controls the keyboard cannot reach: Tab from the top of the page through every focusable stop
 * (twice as many presses as there are controls, and a few more), then list the shown, enabled controls
 * that never had the focus.
 */
export async function unreachableByKeyboard(page: Page): Promise<string[]> {
  const count = await page.evaluate((sel) => {
    const w = window as unknown as { __kbSeen: WeakSet<Element>; __kbAtStart: WeakSet<Element> };
    w.__kbSeen = new WeakSet();
    // Live pages re-render: judge only the controls there when the sweep starts (and still there).
    w.__kbAtStart = new WeakSet(document.querySelectorAll(sel));
    document.addEventListener('focusin', (e) => w.__kbSeen.add(e.target as Element), true);
    // Start from the top of the page: focus a throwaway, unfocusable-by-Tab mark before everything.
    const start = document.createElement('span');
    start.tabIndex = -1;
    start.id = '__kb-start';
    document.body.prepend(start);
    start.focus();
    return document.querySelectorAll(sel).length;
  }, CONTROLS);
  // Scrolling panels are tab stops of their own in Chromium: go round more than once.
  for (let i = 0; i < 2 * count + 10; i++) await page.keyboard.press('Tab');
  return page.evaluate((sel) => {
    const w = window as unknown as { __kbSeen: WeakSet<Element>; __kbAtStart: WeakSet<Element> };
    document.getElementById('__kb-start')?.remove();
    return [...document.querySelectorAll(sel)]
      .filter((el) => w.__kbAtStart.has(el))
      .filter((el) => {
        const r = el.getBoundingClientRect();
        const d = el.parentElement?.closest('details');
        const hiddenInDetails = d && !d.open && !(el.tagName === 'SUMMARY' && el.parentElement === d);
        return r.width > 0 && r.height > 0 && !(el as HTMLButtonElement).disabled && !hiddenInDetails && getComputedStyle(el).visibility !== 'hidden';
      })
      .filter((el) => !w.__kbSeen.has(el))
      .map((el) => `${el.tagName.toLowerCase()} "${((el as HTMLElement).innerText || el.getAttribute('aria-label') || '').trim().slice(0, 40)}" is not reachable with Tab`);
  }, CONTROLS);
}
