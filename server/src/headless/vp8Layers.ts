/**
 * VP8 temporal layers from @roamhq/wrtc (libwebrtc M106), which has no scalabilityMode: its
 * binding drops `sendEncodings[].scalabilityMode` (getParameters() shows only `active`). Legacy
 * SDP simulcast does what we need: libwebrtc encodes every simulcast stream with three temporal
 * layers (TIDs 0,2,1,2, TL2 non-reference, TL1 layer-sync every other cycle; checked on the wire).
 * With a source under 480x270 pixels libwebrtc makes only one spatial stream of a simulcast group,
 * at full resolution: exactly L1T3. Larger sources would get a half-resolution base stream, so
 * headless publishers only ask for this with small frames (tests, simulated callers at 320x240).
 */

/** Declares a two-SSRC simulcast group (with RTX) on every video m-section of a local offer. */
export function withLegacyTemporalLayers(sdp: string): string {
  const lines = sdp.split('\r\n');
  const out: string[] = [];
  let i = 0;
  let n = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (!line.startsWith('m=video')) {
      out.push(line);
      i++;
      continue;
    }
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith('m=')) end++;
    const section = lines.slice(i, end);
    const cname = section.map((l) => /^a=ssrc:\d+ cname:(\S+)/.exec(l)?.[1]).find(Boolean);
    const msid = section.map((l) => /^a=ssrc:\d+ msid:(.*)$/.exec(l)?.[1]).find(Boolean);
    if (!cname || section.some((l) => l.startsWith('a=ssrc-group:SIM'))) {
      out.push(...section);
    } else {
      const kept = section.filter((l) => !l.startsWith('a=ssrc:') && !l.startsWith('a=ssrc-group:'));
      // Trailing empty line (the SDP's final CRLF) stays last.
      const tail = kept.length > 0 && kept[kept.length - 1] === '' ? kept.pop() : undefined;
      const base = 0x10000000 + Math.floor(Math.random() * 0x40000000) + n++ * 16;
      const ssrcs = [base, base + 1];
      const rtx = [base + 2, base + 3];
      const add = [`a=ssrc-group:SIM ${ssrcs.join(' ')}`, ...ssrcs.map((s, k) => `a=ssrc-group:FID ${s} ${rtx[k]}`)];
      for (const s of [...ssrcs, ...rtx]) add.push(`a=ssrc:${s} cname:${cname}`, ...(msid ? [`a=ssrc:${s} msid:${msid}`] : []));
      out.push(...kept, ...add, ...(tail !== undefined ? [tail] : []));
    }
    i = end;
  }
  return out.join('\r\n');
}
