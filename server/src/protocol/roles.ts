/** Roles a participant can hold. Privileged roles may see risk data; analysed roles never do. */
export const PRIVILEGED_ROLES = ['clinician', 'agent', 'supervisor'] as const;
export const ANALYSED_ROLES = ['patient', 'customer'] as const;
export const ROLES = [...PRIVILEGED_ROLES, ...ANALYSED_ROLES] as const;

export type PrivilegedRole = (typeof PRIVILEGED_ROLES)[number];
export type AnalysedRole = (typeof ANALYSED_ROLES)[number];
export type Role = (typeof ROLES)[number];

/**
 * What kind of call a room holds, which decides when a liveness check starts on its own
 * (screening/StepUp.ts): from ROOM_TYPES, or from the `roomType` claim of the host who opened it.
 */
export const ROOM_TYPES = ['telehealth', 'kyc', 'support', 'off'] as const;
export type RoomType = (typeof ROOM_TYPES)[number];

/** The analyzer joins calls as a hidden, receive-only participant with a service credential. */
export type ParticipantRole = Role | 'analyzer';

export function isPrivileged(role: ParticipantRole): role is PrivilegedRole {
  return (PRIVILEGED_ROLES as readonly string[]).includes(role);
}

/** Patients and customers: the people the analyzer screens (never an analyzer, never a privileged role). */
export function isAnalysed(role: string): role is AnalysedRole {
  return (ANALYSED_ROLES as readonly string[]).includes(role);
}

/** Supervisors watch silently: they publish nothing and analysed participants do not see them. */
export function canPublish(role: ParticipantRole): boolean {
  return role !== 'supervisor' && role !== 'analyzer';
}

/** Hosts (the clinician or agent running the call) may open and close a room. */
export function isHost(role: ParticipantRole): boolean {
  return role === 'clinician' || role === 'agent';
}
