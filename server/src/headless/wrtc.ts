/** @roamhq/wrtc (native libwebrtc for Node) with its W3C classes typed as the DOM ones. */
import wrtc from '@roamhq/wrtc';

export const { nonstandard } = wrtc;
export const WrtcPeerConnection = wrtc.RTCPeerConnection as unknown as typeof globalThis.RTCPeerConnection;
export type I420Frame = { width: number; height: number; data: Uint8Array };
