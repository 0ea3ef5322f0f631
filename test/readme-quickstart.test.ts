/**
 * The README's first quick start, followed word for word in an empty folder
 * (issue 17): its shell lines run as written (but for `npm install stemstream`,
 * which installs the packed tarball: the package is not published from here),
 * its HTML block becomes index.html, a real song (the demo clip as a LAME MP3)
 * is song.mp3, and `npx stemstream serve .` serves the folder to Chromium. The
 * page must be cross-origin isolated, load the real model that `model web`
 * wrote and separate the song's first segment with the vocals muted, with no
 * console error.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIP_DIR } from './fixtures/demo-clip.js';
import { launchChromium, requireChromium, root, watchErrors } from './fixtures/demo-site.js';
import { encodeWithFfmpeg } from './fixtures/encoded-audio.js';
import { packTarball, runShellLine, serveWithCli } from './fixtures/packed-consumer.js';

interface QuickStart {
  commands: string[];
  html: string;
}

/** The shell lines (comments dropped) and the HTML of the README's quick start. */
function readQuickStart(readme: string): QuickStart {
  const block = /<!-- README-QUICKSTART-START -->([\s\S]*?)<!-- README-QUICKSTART-END -->/.exec(readme);
  if (!block) throw new Error('README.md has no README-QUICKSTART markers');
  const commands: string[] = [];
  for (const m of block[1].matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of m[1].split('\n')) {
      const command = line.replace(/\s+#.*$/, '').trim();
      if (command !== '') commands.push(command);
    }
  }
  const html = /```html\n([\s\S]*?)```/.exec(block[1]);
  if (!html) throw new Error('the README quick start has no html block');
  return { commands, html: html[1] };
}

describe("the README's quick start, word for word, in an empty folder", () => {
  let dir: string;
  let browser: Browser;
  let quick: QuickStart;

  beforeAll(async () => {
    requireChromium();
    quick = readQuickStart(await readFile(join(root, 'README.md'), 'utf8'));
    dir = await mkdtemp(join(tmpdir(), 'stemstream-quickstart-'));
    await encodeWithFfmpeg(join(CLIP_DIR, 'mixture.wav'), join(dir, 'song.mp3'), ['-c:a', 'libmp3lame', '-b:a', '192k']);
    browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs, makes the model, serves the page cross-origin isolated; the player loads the real model, separates the first segment, vocals muted, no console error', async () => {
    const serveLine = quick.commands.findIndex((c) => c.startsWith('npx stemstream serve'));
    expect(serveLine).toBe(quick.commands.length - 1); // the last step, after the page exists
    expect(quick.commands.slice(0, serveLine)).toContain('npm install stemstream');
    const tarball = await packTarball();
    for (const command of quick.commands.slice(0, serveLine)) {
      const typed = command === 'npm install stemstream' ? `npm install ${tarball}` : command;
      await runShellLine(dir, typed);
    }
    await writeFile(join(dir, 'index.html'), quick.html);

    const server = await serveWithCli(dir, quick.commands[serveLine].split(/\s+/).slice(2)); // after `npx stemstream`
    let tab: Page | undefined;
    try {
      tab = await browser.newPage();
      const errors = watchErrors(tab);
      type Ev = { type: string; detail: unknown };
      await tab.addInitScript(() => {
        const events: Ev[] = [];
        Object.assign(globalThis, { playerEvents: events });
        customElements.whenDefined('stem-player').then(() => {
          const player = document.querySelector('stem-player')!;
          for (const type of ['load', 'error', 'progress']) player.addEventListener(type, (e) => events.push({ type, detail: type === 'error' ? String((e as CustomEvent).detail?.error) : null }));
        });
      });
      await tab.goto(`${server.base}/`);
      expect(await tab.evaluate(() => globalThis.crossOriginIsolated)).toBe(true);
      // The real model (fp16, 91 MB) loads, the song decodes, the first segment separates:
      // on this machine's WASM, about a minute in all.
      await tab.waitForFunction(() => {
        const engine = (document.querySelector('stem-player') as unknown as { engine: { readyMap(n: number): Float32Array } | null }).engine;
        return engine !== null && engine.readyMap(16)[0] >= 1;
      }, undefined, { timeout: 300_000 });
      const events = await tab.evaluate(() => (globalThis as unknown as { playerEvents: Ev[] }).playerEvents);
      expect(events.filter((e) => e.type === 'error')).toEqual([]);
      expect(events.some((e) => e.type === 'load')).toBe(true);
      expect(await tab.getByRole('button', { name: 'Mute vocals' }).getAttribute('aria-pressed')).toBe('true');
      expect(await tab.evaluate(() => (document.querySelector('stem-player') as unknown as { engine: { sources: string[] } }).engine.sources)).toEqual(['drums', 'bass', 'other', 'vocals']);
      expect(errors).toEqual([]);
    } finally {
      await tab?.close();
      await server.close();
    }
  }, 600_000);
});
