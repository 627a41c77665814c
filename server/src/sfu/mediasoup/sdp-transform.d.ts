// sdp-transform ships no types (mediasoup-client depends on it and is typed against @types it does
// not install). Only what the SDP bridge uses, loosely typed: mediasoup-client's helpers take the
// parsed objects as they are.
declare module 'sdp-transform' {
  export interface MediaDescription {
    type: string;
    port: number;
    mid?: string | number;
    direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
    setup?: string;
    ssrcGroups?: Array<{ semantics: string; ssrcs: string }>;
    [key: string]: unknown;
  }
  export interface SessionDescription {
    media: MediaDescription[];
    [key: string]: unknown;
  }
  export function parse(sdp: string): SessionDescription;
  export function write(session: SessionDescription): string;
}
