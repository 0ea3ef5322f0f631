/**
 * The layers (docs/ARCHITECTURE.md §9) as `npm run lint:layers` checks them:
 * dependency-cruiser with .dependency-cruiser.cjs over src/ and worklets/.
 * The real tree has no violation; a copy of it with back-up imports added
 * reports exactly those, each under the rule that forbids it, type-only
 * imports included, and a downward import added beside them reports nothing.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');

interface Violation {
  rule: string;
  from: string;
  to: string;
}

/** `npm run lint:layers`'s command, run in `cwd`: its exit status (the number of errors) and what it printed. */
function lint(cwd: string, ...extra: string[]): { status: number | null; stdout: string } {
  const r = spawnSync(process.execPath, [CLI, 'src', 'worklets', '--config', CONFIG, ...extra], { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error || !r.stdout) throw new Error(`dependency-cruiser did not run in ${cwd}: ${r.error?.message ?? r.stderr}`);
  return { status: r.status, stdout: r.stdout };
}

/** The same cruise as JSON: each violation's rule and ends, sorted, and how many modules it read. */
function violations(cwd: string): { violations: Violation[]; modules: number } {
  const result = JSON.parse(lint(cwd, '--output-type', 'json').stdout) as {
    summary: { totalCruised: number; violations: { rule: { name: string }; from: string; to: string }[] };
  };
  const list = result.summary.violations
    .map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }))
    .sort((a, b) => `${a.rule} ${a.from} ${a.to}`.localeCompare(`${b.rule} ${b.from} ${b.to}`));
  return { violations: list, modules: result.summary.totalCruised };
}

describe('layers (dependency-cruiser, .dependency-cruiser.cjs)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'stemstream-layers-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('npm test runs the lint first; the real src/ and worklets/ pass it', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts['lint:layers']).toBe('depcruise src worklets --config .dependency-cruiser.cjs');
    expect(scripts.test).toMatch(/^tsc -p tsconfig\.json --noEmit && npm run lint:layers && /);
    const r = violations(ROOT);
    expect(r.violations).toEqual([]);
    // It did read the tree: every module of src/ and worklets/ (and the packages they import).
    expect(r.modules).toBeGreaterThan(100);
    expect(lint(ROOT).status).toBe(0);
  });

  it('back-up imports added to a copy of the tree are each reported under their rule, and only they', () => {
    cpSync(join(ROOT, 'src'), join(tmp, 'src'), { recursive: true });
    cpSync(join(ROOT, 'worklets'), join(tmp, 'worklets'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'), 'dir');
    const add = (path: string, text: string) => {
      mkdirSync(dirname(join(tmp, path)), { recursive: true });
      writeFileSync(join(tmp, path), text);
    };
    // A type-only import counts: the engine naming a UI type is the back-up import this lint exists for.
    add('src/engine/host/probe-up.ts', "import type { StemMixerSource } from '../../ui/engine-view.js';\nexport type Probe = StemMixerSource;\n");
    // The inference worker reaching into the main thread's folder.
    add('src/engine/worker/probe-host.ts', "import { declaredLatency } from '../host/latency.js';\nexport const probe = declaredLatency;\n");
    // And the main thread loading the worker's code.
    add('src/engine/host/probe-worker.ts', "import { sleep } from '../worker/session.js';\nexport const probe = sleep;\n");
    // The audio thread loading the engine (the realtime import beside it is allowed).
    add('worklets/probe.ts', "import { CTRL } from '../src/realtime/control-block.js';\nimport type { ToWorker } from '../src/engine/protocol.js';\nexport const probe: [number, ToWorker?] = [CTRL.GAIN];\n");
    // A bottom layer importing upwards, and the cycle that closes (reported once, where it starts).
    add('src/audio/probe-cycle.ts', "import { probe as back } from '../separate/probe-cycle.js';\nexport const probe = () => back;\n");
    add('src/separate/probe-cycle.ts', "import { probe as forth } from '../audio/probe-cycle.js';\nexport const probe = () => forth;\n");
    // Negative control: importing downwards (engine → realtime, ui → engine) is allowed.
    add('src/engine/host/probe-down.ts', "import { CTRL } from '../../realtime/control-block.js';\nexport const probe = CTRL.GAIN;\n");
    add('src/ui/probe-down.ts', "import type { StemEngine } from '../engine/host/stem-engine.js';\nexport type Probe = StemEngine;\n");
    // A stale path (a file moved without its importers).
    add('src/web/probe-stale.ts', "import { engineAssets } from './engine-assets.js';\nexport const probe = engineAssets;\n");

    const expected = [
      { rule: 'engine-host-not-worker', from: 'src/engine/host/probe-worker.ts', to: 'src/engine/worker/session.ts' },
      { rule: 'engine-worker-not-host', from: 'src/engine/worker/probe-host.ts', to: 'src/engine/host/latency.ts' },
      { rule: 'layer-audio', from: 'src/audio/probe-cycle.ts', to: 'src/separate/probe-cycle.ts' },
      { rule: 'layer-engine', from: 'src/engine/host/probe-up.ts', to: 'src/ui/engine-view.ts' },
      { rule: 'layer-worklets', from: 'worklets/probe.ts', to: 'src/engine/protocol.ts' },
      { rule: 'no-circular', from: 'src/audio/probe-cycle.ts', to: 'src/separate/probe-cycle.ts' },
      { rule: 'not-to-unresolvable', from: 'src/web/probe-stale.ts', to: './engine-assets.js' },
    ];
    expect(violations(tmp).violations).toEqual(expected);
    // The lint itself fails, naming each rule.
    const r = lint(tmp);
    expect(r.status).toBe(expected.length);
    for (const v of expected) expect(r.stdout).toContain(`error ${v.rule}: ${v.from}`);
  });
});
