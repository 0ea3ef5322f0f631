/**
 * <stem-player> from the source, as a page that installed the package would
 * use it; the element's events, in order, on window.playerEvents.
 */
import '../../src/ui/stem-player.js';

export interface PlayerEvent {
  type: string;
  /** The error's code and message for 'error'; the detail otherwise. */
  detail: unknown;
}

const events: PlayerEvent[] = [];
(window as unknown as { playerEvents: PlayerEvent[] }).playerEvents = events;
const player = document.querySelector('stem-player')!;
for (const type of ['load', 'model-progress', 'ready', 'error']) {
  player.addEventListener(type, (e) => {
    const detail = (e as CustomEvent).detail as { error?: Error & { code?: string } } | undefined;
    events.push({ type, detail: type === 'error' ? { code: detail?.error?.code, message: detail?.error?.message } : detail ?? null });
  });
}
