/**
 * The README's examples are the code the browser tests run: the embed example is
 * demo/embed.ts (test/browser-engine.test.ts), the <stem-player> script tag is
 * test/consumer/player.html's (test/consumer.test.ts), verbatim but for the paths.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('shows demo/embed.ts, the tested embed example, verbatim', () => {
    const src = readFileSync(new URL('../demo/embed.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const m = /\/\/ README-EXAMPLE-START\n([\s\S]*?)\/\/ README-EXAMPLE-END/.exec(src);
    expect(m).not.toBeNull();
    const example = m![1].replace("from '../src/engine/host/stem-engine.js'", "from 'stemstream/web'").replace("from '../src/ui/index.js'", "from 'stemstream/web'");
    expect(readme).toContain(example.trim());
  });

  it("quick start: player.html's <stem-player> script tag, verbatim but for the song", () => {
    const page = readFileSync(new URL('./consumer/player.html', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const m = /<!-- README-PLAYER-START[^\n]*\n([\s\S]*?)\n\s*<!-- README-PLAYER-END -->/.exec(page);
    expect(m).not.toBeNull();
    const lines = m![1].split('\n').map((l) => l.trim());
    expect(lines).toHaveLength(2);
    const example = lines.join('\n').replace('src="song.wav"', 'src="song.mp3"');
    const quickStart = /<!-- README-QUICKSTART-START -->([\s\S]*?)<!-- README-QUICKSTART-END -->/.exec(readme);
    expect(quickStart).not.toBeNull();
    const html = /```html\n([\s\S]*?)```/.exec(quickStart![1]);
    expect(html).not.toBeNull();
    expect(html![1].trim()).toBe(example);
  });
});
