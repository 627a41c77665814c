/**
 * A caller without a camera: joins a call through @roamhq/wrtc like any participant and publishes
 * a clip (real, fake, replay or tts; see clips.ts) as live video and audio. When a liveness
 * challenge prompts it, it makes the movement asked for after a human reaction time, or, with
 * `respond: false`, ignores the instruction, so both outcomes can be shown and tested.
 */
import { EventEmitter } from 'node:events';
import { HeadlessParticipant } from '../headless/HeadlessParticipant.ts';
import { LoopedAudio, SyntheticVideo } from '../headless/syntheticMedia.ts';
import type { ChallengePrompt } from '../protocol/challenge.ts';
import type { JoinResult } from '../protocol/messages.ts';
import type { CallSession } from '../protocol/CallSession.ts';
import { FaceAnimator, type AnimatorPose } from './FaceAnimator.ts';
import { VIDEO_HEIGHT, VIDEO_WIDTH, type ClipLibrary, type ClipMedia, type ClipName } from './clips.ts';

export interface SimulatedCallerOptions {
  url: string;
  token: string;
  room: string;
  clip: ClipName;
  library: ClipLibrary;
  /** Make the movements challenges ask for (default true). */
  respond?: boolean;
  /** Default 12. */
  fps?: number;
}

interface Movement {
  prompt: ChallengePrompt;
  /** performance.now() times */
  start: number;
  end: number;
}

/** How a person answers an instruction: notice it, move, hold, and relax before the time is up. */
const REACTION_MS = [450, 800] as const;
const RAMP_MS = 350;
/** How long a turn is held in full, in view, before it goes on past tracking (see pose). */
const TURN_SEEN_MS = 300;

export class SimulatedCaller extends EventEmitter<{ prompt: [ChallengePrompt, boolean]; clip: [ClipName] }> {
  readonly participant: HeadlessParticipant;
  private readonly video: SyntheticVideo;
  private readonly audio: LoopedAudio;
  private animator: FaceAnimator;
  private clipName: ClipName;
  private readonly opts: SimulatedCallerOptions;
  private movement: Movement | undefined;
  private nextBlink: number;
  private readonly t0 = performance.now();

  /** Loads the clip's media first (a face must be found in its still). */
  static async create(opts: SimulatedCallerOptions): Promise<SimulatedCaller> {
    return new SimulatedCaller(opts, await opts.library.load(opts.clip));
  }

  private constructor(opts: SimulatedCallerOptions, media: ClipMedia) {
    super();
    this.opts = opts;
    this.clipName = opts.clip;
    this.animator = new FaceAnimator(media.frame, media.layout, { look: media.spec.look });
    this.nextBlink = this.t0 + 1500 + Math.random() * 2000;
    this.video = new SyntheticVideo({
      width: VIDEO_WIDTH,
      height: VIDEO_HEIGHT,
      fps: opts.fps ?? 12,
      paint: (frame) => {
        const now = performance.now();
        this.animator.paint(frame, now - this.t0, this.pose(now));
      },
    });
    this.audio = new LoopedAudio(media.pcm);
    // A caller started before its host waits for the call to open (and again across a server restart).
    this.participant = new HeadlessParticipant({ url: opts.url, token: opts.token, room: opts.room, tracks: [this.video.track, this.audio.track], waitForHost: true });
    this.session.on('challenge-prompt', (p) => this.onPrompt(p));
  }

  get session(): CallSession {
    return this.participant.session;
  }

  get clip(): ClipName {
    return this.clipName;
  }

  join(): Promise<JoinResult> {
    return this.participant.join();
  }

  /** Plays another clip from now on, in the same call (e.g. a real face replaced by a deepfake). */
  async switchTo(clip: ClipName): Promise<void> {
    const media = await this.opts.library.load(clip);
    this.animator = new FaceAnimator(media.frame, media.layout, { look: media.spec.look });
    this.audio.play(media.pcm);
    this.clipName = clip;
    this.emit('clip', clip);
  }

  async leave(): Promise<void> {
    try {
      await this.participant.leave();
    } finally {
      this.video.stop();
      this.audio.stop();
    }
  }

  private onPrompt(p: ChallengePrompt): void {
    const respond = this.opts.respond ?? true;
    this.emit('prompt', p, respond);
    if (!respond) return;
    const start = performance.now() + REACTION_MS[0] + Math.random() * (REACTION_MS[1] - REACTION_MS[0]);
    // Relax a little before the time is up, holding the movement for at least a second.
    const end = Math.max(start + 1000 + 2 * RAMP_MS, performance.now() + p.durationMs - 500);
    this.movement = { prompt: p, start, end };
  }

  private pose(now: number): AnimatorPose {
    const pose: AnimatorPose = {};
    const m = this.movement;
    if (m && now >= m.start) {
      if (now > m.end) this.movement = undefined;
      else {
        pose.motion = m.prompt.action;
        pose.amount = Math.min(1, (now - m.start) / RAMP_MS, (m.end - now) / RAMP_MS);
        // A turn, once held in full for a moment, goes on past where a detector follows the face
        // (as a real head turned toward profile does), and comes back with the turn.
        if (m.prompt.action === 'turn-left' || m.prompt.action === 'turn-right') {
          pose.away = Math.max(0, Math.min(1, (now - m.start - RAMP_MS - TURN_SEEN_MS) / RAMP_MS, pose.amount));
        }
      }
    }
    // Blinks: about 150 ms, every 2.5-5.5 s, as people do.
    if (now >= this.nextBlink) {
      const k = (now - this.nextBlink) / 150;
      if (k >= 1) this.nextBlink = now + 2500 + Math.random() * 3000;
      else pose.blink = 1 - Math.abs(2 * k - 1);
    }
    return pose;
  }
}
