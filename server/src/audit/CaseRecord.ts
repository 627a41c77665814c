/**
 * The case record of one call, built from the audit log alone: who was there and when, how long
 * it lasted, each analysed participant's states over time, every alert with its reasons, who was
 * shown it and who acknowledged it (with the note), and every liveness check with its steps. It is
 * what a clinician, an agent or a supervisor keeps after the call (the live risk is gone once the
 * caller leaves); served as JSON and as a printable page (http/api.ts, `GET /api/calls/:room/record`).
 *
 * Built from the log rather than from the live desks so that a call that has ended, or a server
 * that has restarted, gives the same record; and so that the record can only say what the audit
 * log can prove.
 */
import { formatDuration, type CaseOutcome, type CaseAlert, type CaseCheck, type CaseEvent, type CaseParticipant, type CaseRecord } from '../protocol/caseRecord.ts';
import { INSTRUCTIONS, type ChallengeAction } from '../protocol/challenge.ts';
import { isAnalysed } from '../protocol/roles.ts';
import type { AuditLog } from './AuditLog.ts';

export type { CaseAlert, CaseAlertView, CaseCheck, CaseEvent, CaseParticipant, CaseRecord } from '../protocol/caseRecord.ts';
export { formatDuration };

const ORDER: Record<CaseEvent['kind'], number> = { joined: 0, state: 1, alert: 2, acknowledged: 3, check: 4, left: 5 };

/** The record of call `callId`, or undefined when the log has no such call. */
export function buildCaseRecord(audit: AuditLog, callId: number, now = Date.now()): CaseRecord | undefined {
  const call = audit.call(callId);
  if (!call) return undefined;
  const rows = audit.callParticipants(callId);
  const names = new Map<string, string>();
  for (const p of rows) names.set(p.participantId, p.name);
  const nameOf = (id: string) => names.get(id) ?? id;
  const participants: CaseParticipant[] = rows.map((p) => ({ id: p.participantId, name: p.name, role: p.role, joinedAt: p.joinedAt, leftAt: p.leftAt }));

  const states = new Map<string, CaseRecord['states'][number]>();
  const events: CaseEvent[] = [];
  for (const p of participants) {
    events.push({ at: p.joinedAt, kind: 'joined', participantId: p.id, name: p.name, role: p.role });
    if (p.leftAt !== null) events.push({ at: p.leftAt, kind: 'left', participantId: p.id, name: p.name, role: p.role });
  }
  for (const s of audit.callStates(callId)) {
    let entry = states.get(s.participantId);
    if (!entry) states.set(s.participantId, (entry = { participantId: s.participantId, name: nameOf(s.participantId), changes: [] }));
    entry.changes.push({ at: s.at, state: s.state, risk: s.risk, reasons: s.reasons });
    events.push({ at: s.at, kind: 'state', participantId: s.participantId, name: nameOf(s.participantId), state: s.state, risk: s.risk, reasons: s.reasons });
  }
  const alerts: CaseAlert[] = audit.callAlerts(callId).map((a) => {
    const views = audit.alertViews(a.id).map((v) => ({ ...v, viewerName: names.get(v.viewerId) ?? v.viewerId }));
    events.push({ at: a.at, kind: 'alert', participantId: a.participantId, name: nameOf(a.participantId), alertId: a.id, risk: a.risk, reasons: a.reasons });
    // Every acknowledgement (they are append-only: a second one is a second event).
    for (const k of audit.alertAcks(a.id)) {
      events.push({ at: k.at, kind: 'acknowledged', participantId: a.participantId, name: nameOf(a.participantId), alertId: a.id, by: names.get(k.viewerId) ?? k.viewerName, byRole: k.viewerRole, note: k.note });
    }
    return { ...a, participantName: nameOf(a.participantId), views };
  });
  const checks: CaseCheck[] = audit.callChallenges(callId).map((c) => {
    events.push({ at: c.endedAt, kind: 'check', participantId: c.participantId, name: nameOf(c.participantId), checkId: c.id, result: c.result, requestedBy: c.requestedBy, reasons: c.reasons });
    return { ...c, participantName: nameOf(c.participantId) };
  });
  // Stable: equal times keep join < state < alert < ack < check < leave.
  events.sort((a, b) => a.at - b.at || ORDER[a.kind] - ORDER[b.kind]);
  const end = call.closedAt ?? now;
  return {
    version: 1,
    callId: call.id,
    room: call.room,
    openedAt: call.openedAt,
    closedAt: call.closedAt,
    durationMs: Math.max(0, end - call.openedAt),
    ongoing: call.closedAt === null,
    generatedAt: now,
    participants,
    states: [...states.values()],
    alerts,
    checks,
    outcomes: audit.callOutcomes(callId).map((o) => ({ ...o, participantName: nameOf(o.participantId) })),
    events,
  };
}

// --- The printable page -----------------------------------------------------------------------

const OUTCOME_WORDS: Record<CaseOutcome, string> = { fraud: 'confirmed fraud', genuine: 'confirmed genuine', unknown: 'outcome not known (an earlier mark taken back)' };

const esc = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
/** UTC, to the second: a record is read later and elsewhere, so it names its time zone. */
const when = (at: number | null) => (at === null ? '—' : new Date(at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
const clock = (at: number) => new Date(at).toISOString().slice(11, 19);

const STATE_WORDS: Record<string, string> = {
  ANALYZING: 'Analysing',
  CLEAR: 'Looks real',
  SUSPICIOUS: 'Suspicious',
  ALERT: 'Alert',
  INSUFFICIENT_SIGNAL: 'Not enough signal',
  DEGRADED: 'Analysis degraded',
  PASSED: 'Passed',
  FAILED: 'Failed',
  INCONCLUSIVE: 'Inconclusive',
};
const words = (s: string) => STATE_WORDS[s] ?? s;

function eventText(e: CaseEvent): string {
  switch (e.kind) {
    case 'joined':
      return `${esc(e.name)} (${esc(e.role)}) joined`;
    case 'left':
      return `${esc(e.name)} (${esc(e.role)}) left`;
    case 'state':
      return `${esc(e.name)}: <strong>${esc(words(e.state))}</strong> (risk score ${Math.round(e.risk * 100)} of 100)${e.reasons[0] ? ` — ${esc(e.reasons[0].text)}` : ''}`;
    case 'alert':
      return `<strong>Alert</strong> on ${esc(e.name)} (risk score ${Math.round(e.risk * 100)} of 100)${e.reasons[0] ? ` — ${esc(e.reasons[0].text)}` : ''}`;
    case 'acknowledged':
      return `Alert on ${esc(e.name)} acknowledged by ${esc(e.by)} (${esc(e.byRole)})${e.note ? `: “${esc(e.note)}”` : ''}`;
    case 'check':
      return `Liveness check of ${esc(e.name)}, asked by ${esc(e.requestedBy)}: <strong>${esc(words(e.result))}</strong>${e.reasons[0] ? ` — ${esc(e.reasons[0])}` : ''}`;
  }
}

/** The page's one script (the Print button, marking the outcome); the page's CSP admits it by hash and nothing else. */
export const PAGE_SCRIPT = [
  "document.getElementById('print').addEventListener('click',()=>window.print());",
  // Marking the outcome (POST /api/calls/:room/outcome) with the token the page was opened with; a
  // page fetched with the header instead has none, and says so rather than offer a button that fails.
  "const token=new URLSearchParams(location.search).get('token');",
  "for(const f of document.querySelectorAll('form.outcome')){",
  "const status=f.querySelector('.status');",
  "if(!token){status.textContent='Open this page from its link to mark the outcome.';for(const b of f.querySelectorAll('button'))b.disabled=true;continue;}",
  "f.addEventListener('submit',async(ev)=>{ev.preventDefault();",
  "const body={call:Number(f.dataset.call),participantId:f.dataset.participant,outcome:ev.submitter.value};",
  "const note=f.querySelector('input').value.trim();if(note)body.note=note;",
  "status.textContent='Saving...';",
  "try{const r=await fetch(f.dataset.url,{method:'POST',headers:{'content-type':'application/json',authorization:'Bearer '+token},body:JSON.stringify(body)});",
  "if(r.ok){location.reload();return;}const e=await r.json().catch(()=>({}));status.textContent='Not saved: '+(e.error&&e.error.message||r.status);}",
  "catch(e){status.textContent='Not saved: '+e.message;}});}",
].join('');

/** A self-contained HTML page of the record, laid out for reading and for print (to PDF). */
export function renderCaseRecordHtml(r: CaseRecord): string {
  const people = r.participants
    .map((p) => `<tr><td>${esc(p.name)}</td><td>${esc(p.role)}</td><td>${when(p.joinedAt)}</td><td>${p.leftAt === null ? 'still in the call' : when(p.leftAt)}</td></tr>`)
    .join('');
  const states = r.states
    .map(
      (s) =>
        `<h3>${esc(s.name)}</h3><table><thead><tr><th>Time</th><th>State</th><th>Risk score</th><th>Main reason</th></tr></thead><tbody>${s.changes
          .map((c) => `<tr data-state="${esc(c.state)}"><td>${clock(c.at)}</td><td>${esc(words(c.state))}</td><td>${Math.round(c.risk * 100)} of 100</td><td>${esc(c.reasons[0]?.text ?? '')}</td></tr>`)
          .join('')}</tbody></table>`,
    )
    .join('');
  const alerts = r.alerts
    .map(
      (a) =>
        `<section class="alert" data-testid="record-alert"><h3>${clock(a.at)} — alert on ${esc(a.participantName)} (risk score ${Math.round(a.risk * 100)} of 100)</h3>` +
        `<ol>${a.reasons.map((x) => `<li>${esc(x.text)}</li>`).join('')}</ol>` +
        `<ul>${a.views
          .map(
            (v) =>
              `<li>${esc(v.viewerName)} (${esc(v.viewerRole)}): shown ${clock(v.shownAt)}${v.acknowledgedAt !== null ? `, <strong>acknowledged ${clock(v.acknowledgedAt)}</strong>${v.note ? `: “${esc(v.note)}”` : ''}` : ', not acknowledged'}</li>`,
          )
          .join('')}</ul></section>`,
    )
    .join('');
  const checks = r.checks
    .map(
      (c) =>
        `<section class="check" data-testid="record-check"><h3>${clock(c.startedAt)}–${clock(c.endedAt)} — ${esc(c.participantName)}: ${esc(words(c.result))}</h3>` +
        `<p>Asked by ${esc(c.requestedBy)}.</p><ol>${c.reasons.map((x) => `<li>${esc(x)}</li>`).join('')}</ol>` +
        `<ul>${c.steps.map((s) => `<li>${esc(INSTRUCTIONS[s.action as ChallengeAction] ?? s.action)}: ${esc(s.state === 'passed' ? 'done' : s.state)}${s.reason ? ` — ${esc(s.reason)}` : ''}</li>`).join('')}</ul></section>`,
    )
    .join('');
  const events = r.events.map((e) => `<li data-kind="${e.kind}"><time>${clock(e.at)}</time> ${eventText(e)}</li>`).join('');
  // Once it is known (a bank's check, a patient's complaint), whoever reads the record says what
  // the call was; `npm run calibrate -- --from-audit` learns from those marks.
  const screened = [...new Map(r.participants.filter((p) => isAnalysed(p.role)).map((p) => [p.id, p])).values()];
  const markForms = screened
    .map(
      (p) =>
        `<form class="outcome noprint" data-testid="mark-outcome" data-url="/api/calls/${esc(encodeURIComponent(r.room))}/outcome" data-call="${r.callId}" data-participant="${esc(p.id)}">` +
        `<span><strong>${esc(p.name)}</strong>: what did this call turn out to be?</span> ` +
        `<input name="note" maxlength="500" placeholder="How you know (optional)" aria-label="How you know, for ${esc(p.name)}"> ` +
        `<button type="submit" value="fraud">Confirmed fraud</button> <button type="submit" value="genuine">Confirmed genuine</button> <button type="submit" value="unknown">Not known</button> ` +
        `<span class="status" role="status"></span></form>`,
    )
    .join('');
  const outcomes = r.outcomes
    .map((o) => `<li data-testid="record-outcome" data-outcome="${esc(o.outcome)}"><time>${when(o.at)}</time> ${esc(o.participantName)}: <strong>${esc(OUTCOME_WORDS[o.outcome])}</strong>, marked by ${esc(o.byName)} (${esc(o.byRole)})${o.note ? `: “${esc(o.note)}”` : ''}</li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Case record — ${esc(r.room)} — ${when(r.openedAt)}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; color: #111; background: #fff; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin: 0 0 0.25rem; } h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; border-bottom: 1px solid #999; } h3 { font-size: 1rem; margin: 0.75rem 0 0.25rem; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.alert { border-left: 4px solid #b3261e; padding-left: 0.75rem; } .check { border-left: 4px solid #555; padding-left: 0.75rem; }
.meta { color: #333; } time { font-variant-numeric: tabular-nums; color: #333; margin-right: 0.4rem; }
ol.events { list-style: none; padding: 0; } button { font: inherit; padding: 0.4rem 0.9rem; }
form.outcome { margin: 0.5rem 0; display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; } form.outcome input { font: inherit; padding: 0.3rem; min-width: 14rem; }
@media print { .noprint { display: none; } body { margin: 0; max-width: none; } section, tr { break-inside: avoid; } }
</style></head>
<body data-testid="case-record">
<p class="noprint"><button id="print" type="button">Print or save as PDF</button></p>
<h1>Case record: call in room “${esc(r.room)}”</h1>
<p class="meta">Call ${r.callId}. Opened ${when(r.openedAt)}; ${r.ongoing ? `still running (record made ${when(r.generatedAt)})` : `closed ${when(r.closedAt)}`}. Duration ${formatDuration(r.durationMs)}. Times below are UTC.</p>
<p class="meta">Screening results are evidence for a person to weigh, not a decision. No video or audio was recorded.</p>
<h2>Who took part</h2>
<table><thead><tr><th>Name</th><th>Role</th><th>Joined</th><th>Left</th></tr></thead><tbody>${people || '<tr><td colspan="4">Nobody joined.</td></tr>'}</tbody></table>
<h2>Screening states over time</h2>${states || '<p>No one was screened.</p>'}
<h2>Alerts (${r.alerts.length})</h2>${alerts || '<p>No alerts.</p>'}
<h2>Liveness checks (${r.checks.length})</h2>${checks || '<p>No liveness checks.</p>'}
<h2>Everything, in order</h2><ol class="events" data-testid="record-events">${events}</ol>
<h2>Outcome</h2>${outcomes ? `<ol class="events">${outcomes}</ol><p class="meta">The latest mark for each person counts.</p>` : '<p>Not marked: nobody has said whether this call was a fraud.</p>'}${markForms}
<script>${PAGE_SCRIPT}</script>
</body></html>`;
}
