/** Progress for long work: a bar with ETA on a TTY, plain lines otherwise. */
export interface ProgressReporter {
  update(done: number, total: number, etaMs: number): void;
  finish(message: string): void;
}

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '--:--';
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export function createProgress(label: string, stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const tty = stream.isTTY === true;
  let lastPercent = -1;
  return {
    update(done, total, etaMs) {
      const frac = total > 0 ? done / total : 1;
      const percent = Math.floor(frac * 100);
      if (tty) {
        const width = 30;
        const fill = Math.round(frac * width);
        stream.write(`\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(percent).padStart(3)}% ${done}/${total} ETA ${formatDuration(etaMs)} `);
      } else if (percent !== lastPercent) {
        stream.write(`${label}: ${done}/${total} segments (${percent}%), ETA ${formatDuration(etaMs)}\n`);
      }
      lastPercent = percent;
    },
    finish(message) {
      stream.write(tty ? `\r${message}\x1b[K\n` : `${message}\n`);
    },
  };
}
