/** werift RTCPeerConnection settings, with the workarounds in shared/notes/media-plane.md. */
import { RTCRtpCodecParameters, useSdesMid, type CandidatePair, type PeerConfig } from 'werift';
import type { RtcConfig } from '../../config.ts';
import { logger } from '../../log.ts';
import type { CandidatePolicy } from '../candidates.ts';

const log = logger('sfu');

function candidateFilter(policy: CandidatePolicy): (pair: CandidatePair) => boolean {
  return (pair) => {
    const remote = pair.remoteCandidate;
    if (remote.type === 'prflx' || policy.allows(remote.host)) return true;
    log.debug('ICE candidate not checked (RTC_ALLOWED_CANDIDATES)', { host: remote.host, type: remote.type, allowed: policy.text });
    return false;
  };
}

export function buildPeerConfig(rtc: RtcConfig): Partial<PeerConfig> {
  const loopbackOk = !rtc.listenIp || rtc.listenIp === '127.0.0.1' || rtc.listenIp === '0.0.0.0';
  return {
    codecs: {
      audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      video: [
        new RTCRtpCodecParameters({
          mimeType: 'video/VP8',
          clockRate: 90000,
          rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }],
          // Without these Chromium starts at a few hundred kbit/s and ramps slowly.
          parameters: 'x-google-start-bitrate=1500;x-google-min-bitrate=300',
        }),
      ],
    },
    // Only mid. transport-cc collapses Chromium's bandwidth estimate with werift, and werift 0.24
    // forwards abs-send-time in a form libwebrtc drops (subscribers received no video at all).
    headerExtensions: { audio: [useSdesMid()], video: [useSdesMid()] },
    // The server needs no STUN: clients reach it directly or through the TURN server they are given.
    iceServers: [],
    iceUseIpv6: false,
    ...(loopbackOk ? { iceAdditionalHostAddresses: ['127.0.0.1'] } : {}),
    ...(rtc.listenIp && rtc.listenIp !== '0.0.0.0' ? { iceInterfaceAddresses: { udp4: rtc.listenIp } } : {}),
    ...(rtc.portRange ? { icePortRange: rtc.portRange } : {}),
    // Checks only to candidates the allow-list admits (../candidates.ts); peer-reflexive ones are
    // addresses whose checks already reached us, so answering them probes nothing.
    ...(rtc.candidatePolicy ? { iceFilterCandidatePair: candidateFilter(rtc.candidatePolicy) } : {}),
  };
}
