// Playback through an <audio> element streaming the original file with HTTP Range requests:
// playing starts before the file is downloaded. Adds a loop region and a per-frame tick for a
// smooth playhead.

export const SPEEDS = [0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2];

export class Player {
  constructor(audio, { onTick = () => {}, onState = () => {} } = {}) {
    this.audio = audio;
    this.onTick = onTick;
    this.onState = onState;
    this.loop = null; // {start, end} or null
    this._raf = 0;
    audio.preservesPitch = true;
    for (const ev of ["play", "pause", "ended", "ratechange", "volumechange"]) {
      audio.addEventListener(ev, () => { this.onState(this); if (ev === "play") this._frame(); });
    }
    audio.addEventListener("seeked", () => this.onTick(this.currentTime));
    // A loop that ends at the clip's end: the audio can reach its end between two frames and
    // stop there (after 3 to 5 passes the playhead sat still while Loop stayed on). It goes
    // round again.
    audio.addEventListener("ended", () => {
      if (!this.loop) return;
      this.seek(this.loop.start);
      this.play().catch(() => {});
    });
  }

  load(url) {
    this.pause();
    this.loop = null;
    this.audio.preload = "none"; // the first draw must not wait on audio bytes
    this.audio.src = url;
    this.onTick(0);
  }

  // After the first paint: ask for the header so play() starts without a round trip.
  warm() { if (this.audio.preload === "none") this.audio.preload = "metadata"; }

  get currentTime() { return this.audio.currentTime || 0; }
  get playing() { return !this.audio.paused && !this.audio.ended; }

  async play() {
    if (this.loop && (this.currentTime < this.loop.start || this.currentTime >= this.loop.end)) {
      this.seek(this.loop.start);
    }
    try { await this.audio.play(); } catch (err) { if (err.name !== "AbortError") throw err; }
  }

  pause() { this.audio.pause(); }
  toggle() { return this.playing ? this.pause() : this.play(); }

  seek(t) {
    const duration = Number.isFinite(this.audio.duration) ? this.audio.duration : Infinity;
    this.audio.currentTime = Math.max(0, Math.min(t, duration));
    this.onTick(this.audio.currentTime);
  }

  setRate(rate) { this.audio.playbackRate = Math.max(SPEEDS[0], Math.min(SPEEDS.at(-1), rate)); }
  stepRate(direction) {
    const i = SPEEDS.findIndex((s) => s >= this.audio.playbackRate - 1e-9);
    this.setRate(SPEEDS[Math.max(0, Math.min(SPEEDS.length - 1, (i < 0 ? SPEEDS.indexOf(1) : i) + direction))]);
  }
  setVolume(v) { this.audio.volume = Math.max(0, Math.min(1, v)); }

  setLoop(region) {
    this.loop = region ? { start: region.start, end: region.end } : null;
    this.onState(this);
  }

  _frame() {
    cancelAnimationFrame(this._raf);
    const step = () => {
      const t = this.currentTime;
      if (this.loop && t >= this.loop.end) this.seek(this.loop.start);
      this.onTick(this.currentTime);
      if (this.playing) this._raf = requestAnimationFrame(step);
    };
    this._raf = requestAnimationFrame(step);
  }
}
