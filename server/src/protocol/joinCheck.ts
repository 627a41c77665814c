/** The join-link check the page makes before asking for the camera (server: http/joinCheck.ts). */
export const JOIN_CHECK_PATH = '/api/join-check';

/** Whether the call is open, has not started yet (or is unknown), or has ended. */
export type CallStatus = 'open' | 'not-started' | 'ended';

export type JoinCheckAnswer =
  | { ok: true; role: string; name: string; room: string; call: CallStatus }
  | { ok: false; error: { code: string; message: string } };
