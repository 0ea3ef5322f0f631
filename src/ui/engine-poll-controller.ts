/**
 * The one loop by which a component reads its engine back: on a timer, or on
 * every animation frame (meters, a playhead) with a slower period for the rest.
 * It runs only while the element is in the page and has an engine, so that an
 * element taken out of the page, or handed another engine, never keeps reading
 * the old one; and it asks for a render only when what the element shows changed.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';

export interface EnginePollOptions<E> {
  /** The engine to read now; null or undefined: nothing to poll, the loop stops. */
  engine: () => E | null | undefined;
  /** How often a poll is due, in ms. */
  periodMs: number;
  /** Poll on every animation frame (`due` once per period) instead of a timer (always due). */
  everyFrame?: boolean;
  /**
   * Reads the engine. The string returned stands for what the element shows:
   * one other than `shownKey` requests an update (undefined: no opinion).
   */
  poll: (engine: E, now: number, due: boolean) => string | undefined | void;
}

export class EnginePollController<E> implements ReactiveController {
  /** What the element shows, as the last poll (or the element itself) put it. */
  shownKey: string | undefined;

  private readonly host: ReactiveControllerHost;
  private readonly options: EnginePollOptions<E>;
  private connected = false;
  /** The engine the loop reads; null while it is stopped. */
  private polled: E | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;
  private raf = 0;
  private lastDue = -Infinity;

  constructor(host: ReactiveControllerHost, options: EnginePollOptions<E>) {
    this.host = host;
    this.options = options;
    host.addController(this);
  }

  hostConnected(): void {
    this.connected = true;
    this.sync();
  }

  hostDisconnected(): void {
    this.connected = false;
    this.stop();
  }

  // Before render, so that a first poll of a new engine shows in this same update.
  hostUpdate(): void {
    if ((this.options.engine() ?? null) !== this.polled) this.sync();
  }

  /** Starts, restarts or stops the loop for the engine the element has now; a timer polls at once. */
  sync(): void {
    this.stop();
    const engine = this.options.engine() ?? null;
    if (!this.connected || engine === null) return;
    this.polled = engine;
    if (this.options.everyFrame) {
      this.raf = requestAnimationFrame(this.tick);
    } else {
      this.pollNow();
      this.timer = setInterval(() => this.pollNow(), this.options.periodMs);
    }
  }

  /** Stops the loop (the element was disposed, or its engine is gone). */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.polled = null;
    this.lastDue = -Infinity;
  }

  /** A due poll now, outside the loop (after an action whose effect should show without waiting). */
  pollNow(now = performance.now()): void {
    const engine = this.polled;
    if (engine === null) return;
    this.lastDue = now;
    this.apply(this.options.poll(engine, now, true));
  }

  private readonly tick = (now: number): void => {
    this.raf = requestAnimationFrame(this.tick);
    const engine = this.polled;
    if (engine === null) return;
    const due = now - this.lastDue >= this.options.periodMs;
    if (due) this.lastDue = now;
    this.apply(this.options.poll(engine, now, due));
  };

  private apply(key: string | undefined | void): void {
    if (key === undefined || key === this.shownKey) return;
    this.shownKey = key;
    this.host.requestUpdate();
  }
}
