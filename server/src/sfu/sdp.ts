/** Small SDP checks and rewrites shared by engines. Not a full parser: only what we rely on. */
import { SdpError } from './engine.ts';

export interface MediaSection {
  kind: string;
  port: number;
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
}

export function parseMediaSections(sdp: string): MediaSection[] {
  const sections: MediaSection[] = [];
  let current: MediaSection | undefined;
  for (const line of sdp.split(/\r?\n/)) {
    const m = /^m=(\S+) (\d+) /.exec(line);
    if (m) {
      current = { kind: m[1] ?? '', port: Number(m[2]), direction: 'sendrecv' };
      sections.push(current);
    } else if (current && /^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) {
      current.direction = line.slice(2) as MediaSection['direction'];
    }
  }
  return sections;
}

function checkStructure(sdp: string, what: string): void {
  if (!/^v=0\r?\n/.test(sdp) || !/\r?\no=/.test(sdp) || !/\r?\nm=/.test(sdp)) {
    throw new SdpError(`The ${what} is not a valid session description (expected v=, o= and m= lines).`);
  }
}

/** An answer must answer every section of our offer, in order. */
export function checkAnswerMatchesOffer(answer: string, offer: string): void {
  checkStructure(answer, 'answer');
  const want = parseMediaSections(offer).map((s) => s.kind);
  const got = parseMediaSections(answer).map((s) => s.kind);
  if (want.join(',') !== got.join(',')) {
    throw new SdpError(`The answer has media sections [${got.join(', ')}], the offer had [${want.join(', ')}].`);
  }
}

/**
 * A publish offer must be a plausible session description with at most one audio and one video
 * section; anything else (data channels, many tracks, garbage) is refused before it reaches the engine.
 */
export function checkPublishOffer(sdp: string): void {
  checkStructure(sdp, 'offer');
  const sections = parseMediaSections(sdp);
  const counts = new Map<string, number>();
  for (const s of sections) {
    if (s.kind !== 'audio' && s.kind !== 'video') {
      throw new SdpError(`Only audio and video can be published, not "${s.kind}".`);
    }
    counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
  }
  if ((counts.get('audio') ?? 0) > 1 || (counts.get('video') ?? 0) > 1) {
    throw new SdpError('Publish at most one audio and one video track.');
  }
}

/** Fails when the answer accepted no media at all, e.g. the offer had no VP8 or Opus. */
export function checkAnswerAcceptsMedia(answer: string): void {
  const active = parseMediaSections(answer).filter((s) => s.port !== 0 && s.direction !== 'inactive');
  if (active.length === 0) {
    throw new SdpError('None of the offered media could be accepted: the server takes VP8 video and Opus audio.');
  }
}

/**
 * Put the announced address (e.g. a public IP in front of a NAT) in host candidates instead of
 * local interface addresses. Loopback candidates stay as they are for same-host clients.
 */
export function announceAddress(sdp: string, announcedIp: string | undefined): string {
  if (!announcedIp) return sdp;
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of sdp.split('\r\n')) {
    const c = /^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( (\d+) typ host.*)$/.exec(line);
    if (c && c[2] !== '127.0.0.1' && c[2] !== '::1') {
      const key = `${announcedIp}:${c[4]}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(`${c[1]}${announcedIp}${c[3]}`);
    } else {
      out.push(line);
    }
  }
  return out.join('\r\n');
}
