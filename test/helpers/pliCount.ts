/**
 * The keyframe requests a headless publisher has received: its own outbound-rtp pliCount
 * (@roamhq/wrtc's getStats, as a browser's), where a caller would see them.
 */
import type { HeadlessParticipant } from '../../server/src/headless/HeadlessParticipant.ts';

export async function pliCount(p: HeadlessParticipant): Promise<number> {
  const pc = (p.session as unknown as { publishPc?: RTCPeerConnection }).publishPc;
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach((r: { type: string; kind?: string; pliCount?: number }) => {
    if (r.type === 'outbound-rtp' && r.kind === 'video') n += r.pliCount ?? 0;
  });
  return n;
}
