/** SDP rewriting for the direct (no SFU) baseline link. Pure string functions. */

/**
 * Makes a direct link's video section negotiate what the SFU negotiates with a publisher: VP8 only
 * (with its retransmission payload), the mid header extension only, no transport-wide congestion
 * control or REMB. `kbps` pins the bitrate (x-google start = min = max), so the direct link can
 * carry the same amount of video as the SFU path it is compared with; without it, the SFU's own
 * hints (start 1500, min 300 kbit/s) are used.
 */
export function preferVp8(sdp: string, kbps?: number): string {
  const rate = kbps ? `x-google-start-bitrate=${Math.round(kbps)};x-google-min-bitrate=${Math.round(kbps)};x-google-max-bitrate=${Math.round(kbps)}` : 'x-google-start-bitrate=1500;x-google-min-bitrate=300';
  const lines = sdp.split('\r\n');
  const video = lines.findIndex((l) => l.startsWith('m=video'));
  if (video < 0) return sdp;
  const rtpmap = new Map<string, string>();
  for (const l of lines) {
    const m = /^a=rtpmap:(\d+) ([^/]+)\//.exec(l);
    if (m) rtpmap.set(m[1]!, m[2]!.toUpperCase());
  }
  const vp8 = [...rtpmap].filter(([, c]) => c === 'VP8').map(([pt]) => pt);
  if (vp8.length === 0) return sdp;
  const rtx = lines.flatMap((l) => {
    const m = /^a=fmtp:(\d+) apt=(\d+)/.exec(l);
    return m && vp8.includes(m[2]!) ? [m[1]!] : [];
  });
  const keep = new Set([...vp8, ...rtx]);
  let end = lines.findIndex((l, i) => i > video && l.startsWith('m='));
  if (end < 0) end = lines.length;
  const out: string[] = [];
  lines.forEach((l, i) => {
    if (i < video || i >= end) return void out.push(l);
    if (i === video) {
      const parts = l.split(' ');
      return void out.push([...parts.slice(0, 3), ...parts.slice(3).filter((pt) => keep.has(pt))].join(' '));
    }
    // Header extensions as the SFU negotiates them (mid only: no transport-cc, no abs-send-time),
    // so the sender's bandwidth estimation runs on the same feedback as a publisher's.
    if (l.startsWith('a=extmap:') && !l.includes('urn:ietf:params:rtp-hdrext:sdes:mid')) return;
    if (/^a=rtcp-fb:\d+ (transport-cc|goog-remb)/.test(l)) return;
    const m = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l);
    if (m && !keep.has(m[1]!)) return;
    if (m && l.startsWith('a=fmtp:') && vp8.includes(m[1]!)) return; // replaced below
    out.push(l);
    if (m && l.startsWith('a=rtpmap:') && vp8.includes(m[1]!)) out.push(`a=fmtp:${m[1]} ${rate}`);
  });
  return out.join('\r\n');
}
