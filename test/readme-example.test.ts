/** The README's embed example is the code that test/browser-engine.test.ts runs in Chromium (demo/embed.ts), verbatim. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('shows demo/embed.ts, the tested embed example, verbatim', () => {
    const src = readFileSync(new URL('../demo/embed.ts', import.meta.url), 'utf8');
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const m = /\/\/ README-EXAMPLE-START\n([\s\S]*?)\/\/ README-EXAMPLE-END/.exec(src);
    expect(m).not.toBeNull();
    const example = m![1].replace("from '../src/engine/stem-engine.js'", "from 'stemstream/web'").replace("from '../src/ui/index.js'", "from 'stemstream/web'");
    expect(readme).toContain(example.trim());
  });
});
