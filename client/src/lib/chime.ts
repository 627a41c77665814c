/** A short two-tone chime, generated (no audio file to fetch). Browsers may mute it until the page has had a click. */
export function playChime(): void {
  try {
    const ctx = new AudioContext();
    const gain = ctx.createGain();
    gain.gain.setValueAtTime(0.0001, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.3, ctx.currentTime + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + 0.9);
    gain.connect(ctx.destination);
    for (const [freq, start] of [[880, 0], [660, 0.35]] as const) {
      const osc = ctx.createOscillator();
      osc.frequency.value = freq;
      osc.connect(gain);
      osc.start(ctx.currentTime + start);
      osc.stop(ctx.currentTime + start + 0.3);
    }
    setTimeout(() => void ctx.close(), 1500);
  } catch {
    // No audio output: the page still shows the alert.
  }
}
