/**
 * The picture-quality gaps fusion reports when it cannot see a usable face (RiskUpdate.gaps), in
 * one place: the analyzer writes them and the call UI recognises them to tell a clinician the
 * actual cause and what to ask the caller ("ask them to face the light"). Change a text here and
 * both sides follow.
 */
export const QUALITY_GAPS = {
  'no-face': 'No face is visible.',
  'multiple-faces': 'Several faces are visible; the analysis needs exactly one.',
  'too-dark': 'The picture is too dark to analyse the face.',
  'too-small': 'The face is too small (too far from the camera) to analyse.',
  frozen: 'The picture has not changed for several seconds (a still image, or a frozen camera): the face cannot be judged as live.',
} as const;
export type QualityGap = keyof typeof QUALITY_GAPS;

/** Said while no frame of the participant has been analysed at all. */
export const NO_VIDEO_GAP = 'No video has been analysed yet.';
