/**
 * `stemstream serve [DIR]`: a static file server for trying a page locally,
 * with the headers that make it cross-origin isolated (COOP `same-origin`, COEP
 * `require-corp`), which the engine needs for SharedArrayBuffer. It is for
 * local use, not for production: no caching, no compression, no directory
 * listings. It refuses anything outside DIR (`..`, encoded or not, and
 * symbolic links that point out), hidden files (.git, .env), and, on a
 * loopback address, requests whose Host is not this machine (a page
 * elsewhere rebinding its name to 127.0.0.1 to read the folder); it answers single Range requests (audio and
 * video elements seek with them) and runs until Ctrl-C.
 *
 * `startStaticServer` is the same server for code (the tests serve pages with it).
 */
import { createReadStream, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import { extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { StemstreamError } from '../errors.js';
import { defineCommand } from './command.js';
import { commandHint, integerOption, textOption, usageError } from './options.js';

export const DEFAULT_SERVE_PORT = 8080;
export const DEFAULT_SERVE_HOST = '127.0.0.1';

/** Content types by extension; anything else is application/octet-stream. */
export const STATIC_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.wav': 'audio/wav',
  '.mp3': 'audio/mpeg',
  '.flac': 'audio/flac',
  '.ogg': 'audio/ogg',
  '.oga': 'audio/ogg',
  '.opus': 'audio/ogg',
  '.m4a': 'audio/mp4',
  '.aac': 'audio/aac',
  '.weba': 'audio/webm',
  '.webm': 'video/webm',
  '.mp4': 'video/mp4',
  '.zip': 'application/zip',
};

/** Sent with every response: the page and everything it loads from here are cross-origin isolated. */
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

export interface StaticServerOptions {
  /** The folder served. */
  root: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Called for each request with its decoded path (or the raw one when it cannot be decoded) and the status sent. */
  onRequest?: (path: string, status: number) => void;
}

export interface StaticServer {
  /** `http://host:port/`. */
  readonly url: string;
  readonly port: number;
  readonly host: string;
  readonly server: Server;
  close(): Promise<void>;
}

type Range = { start: number; end: number };

/**
 * The byte range a Range header asks for. undefined: serve the whole file
 * (no header, a header this server does not handle such as several ranges, or
 * an invalid one, which RFC 9110 says to ignore); 'unsatisfiable': 416.
 */
export function parseRange(header: string | undefined, size: number): Range | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? undefined : Number(m[2]);
  if (last !== undefined && last < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last ?? size - 1, size - 1) };
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

class Refusal {
  constructor(readonly status: number, readonly text: string, readonly headers: Record<string, string> = {}) {}
}

/** The file a request path names inside `root` (whose real path is `realRoot`), or why there is none. */
async function resolveFile(root: string, realRoot: string, url: URL, decoded: string): Promise<{ file: string; stats: Stats } | Refusal> {
  if (decoded.includes('\0')) return new Refusal(400, 'bad path');
  // The URL parser has already removed dot segments; what decoding reveals (%2F, %5C) is checked here.
  const path = resolve(root, `.${decoded.replace(/\\/g, '/')}`);
  if (!isInside(root, path)) return new Refusal(403, 'outside the served folder');
  // Hidden files (.git, .env, .npmrc) are not part of a page: `serve .` in a project must not hand them out.
  if (relative(root, path).split(sep).some((segment) => segment.startsWith('.'))) return new Refusal(404, 'not found');
  let file = path;
  let stats = await statOrUndefined(file);
  if (stats?.isDirectory()) {
    if (!url.pathname.endsWith('/')) {
      // So that the index page's relative URLs resolve inside its folder.
      // One leading slash: '//host/' would send the browser to another site.
      return new Refusal(301, 'moved', { Location: `/${url.pathname.replace(/^\/+/, '')}/${url.search}` });
    }
    file = join(path, 'index.html');
    stats = await statOrUndefined(file);
  }
  if (!stats?.isFile()) return new Refusal(404, 'not found');
  let real: string;
  try {
    real = await realpath(file);
  } catch {
    return new Refusal(404, 'not found');
  }
  // A symbolic link inside the folder may point anywhere: only what it points at counts.
  if (!isInside(realRoot, real)) return new Refusal(403, 'outside the served folder');
  return { file, stats };
}

function send(res: ServerResponse, head: boolean, status: number, text: string, headers: Record<string, string | number> = {}): void {
  const body = `${status} ${text}\n`;
  res.writeHead(status, { ...ISOLATION_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(head ? undefined : body);
}

/** Loopback addresses: a server there answers only requests that name this machine. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The request's Host names this machine. On a loopback server anything else
 * is a page elsewhere that rebound its own name to 127.0.0.1 (DNS rebinding)
 * to read the served folder.
 */
function hostAllowed(req: IncomingMessage): boolean {
  const name = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return isLoopback(name) || name.endsWith('.localhost');
}

async function handle(req: IncomingMessage, res: ServerResponse, root: string, realRoot: string, onRequest: StaticServerOptions['onRequest'], loopback: boolean): Promise<void> {
  const head = req.method === 'HEAD';
  if (loopback && !hostAllowed(req)) {
    onRequest?.(req.url ?? '', 403);
    send(res, head, 403, 'this server answers only requests for localhost or 127.0.0.1');
    return;
  }
  let url: URL;
  let decoded: string;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
    decoded = decodeURIComponent(url.pathname);
  } catch {
    onRequest?.(req.url ?? '', 400);
    send(res, head, 400, 'bad path');
    return;
  }
  const reply = (status: number) => onRequest?.(decoded, status);
  if (req.method !== 'GET' && !head) {
    reply(405);
    send(res, head, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    return;
  }
  const found = await resolveFile(root, realRoot, url, decoded);
  if (found instanceof Refusal && found.status === 404 && decoded === '/favicon.ico') {
    // Browsers ask for it on every page; a page without one is no error, so no 404 in the console.
    reply(204);
    res.writeHead(204, ISOLATION_HEADERS);
    res.end();
    return;
  }
  if (found instanceof Refusal) {
    reply(found.status);
    send(res, head, found.status, found.text, found.headers);
    return;
  }
  const { file, stats } = found;
  const size = stats.size;
  const range = parseRange(typeof req.headers.range === 'string' ? req.headers.range : undefined, size);
  if (range === 'unsatisfiable') {
    reply(416);
    send(res, head, 416, 'range not satisfiable', { 'Content-Range': `bytes */${size}` });
    return;
  }
  const headers: Record<string, string | number> = {
    ...ISOLATION_HEADERS,
    'Content-Type': STATIC_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Accept-Ranges': 'bytes',
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  };
  const status = range ? 206 : 200;
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
  headers['Content-Length'] = range ? range.end - range.start + 1 : size;
  reply(status);
  res.writeHead(status, headers);
  if (head || size === 0) {
    res.end();
    return;
  }
  // pipeline, not pipe: a client that goes away (an audio element seeking aborts its range request) closes the file too.
  pipeline(createReadStream(file, range ? { start: range.start, end: range.end } : {}), res, () => undefined);
}

/** Starts serving `root`; resolves once it listens. A port in use or refused is an IO error naming --port. */
export async function startStaticServer(options: StaticServerOptions): Promise<StaticServer> {
  const root = resolve(options.root);
  const rootStats = await statOrUndefined(root);
  if (!rootStats) throw new StemstreamError('IO', `cannot serve ${options.root}: no such folder`);
  if (!rootStats.isDirectory()) throw new StemstreamError('IO', `cannot serve ${options.root}: it is a file, not a folder; give the folder that holds it`);
  const realRoot = await realpath(root);
  const host = options.host ?? DEFAULT_SERVE_HOST;
  const wanted = options.port ?? DEFAULT_SERVE_PORT;
  const server = createServer((req, res) => {
    handle(req, res, root, realRoot, options.onRequest, isLoopback(host)).catch(() => {
      if (!res.headersSent) send(res, req.method === 'HEAD', 500, 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const where = `port ${wanted} on ${host}`;
      if (err.code === 'EADDRINUSE') fail(new StemstreamError('IO', `${where} is in use (another server?): choose another with --port, e.g. --port ${wanted === 65535 ? 8081 : wanted + 1} (--port 0 picks a free one)`, { cause: err }));
      else if (err.code === 'EACCES') fail(new StemstreamError('IO', `${where} is not allowed for this user (ports below 1024 usually need privileges): choose another with --port, e.g. --port 8080`, { cause: err }));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') fail(new StemstreamError('IO', `cannot listen on ${host}: no such address on this machine; check --host (127.0.0.1 for this machine only, 0.0.0.0 for every network)`, { cause: err }));
      else fail(new StemstreamError('IO', `cannot listen on ${where}: ${err.message}`, { cause: err }));
    });
    server.listen(wanted, host, () => done());
  });
  const port = (server.address() as AddressInfo).port;
  // 0.0.0.0 and :: are no address a browser can open: show this machine's, where the page is isolated
  // (other machines reach it by plain http, which browsers do not isolate: they need HTTPS).
  const wildcard = host === '0.0.0.0' || host === '::';
  const shownHost = wildcard ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    host,
    server,
    close: () => new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    }),
  };
}

/** `stemstream serve [DIR]`: serves until the process is stopped (Ctrl-C). */
async function runServe(positionals: string[], values: { port?: string; host?: string }): Promise<number> {
  if (positionals.length > 1) throw usageError(`serve takes at most one folder, got ${positionals.length} arguments (${commandHint('serve')})`);
  const dir = positionals[0] ?? '.';
  if (dir.trim() === '') throw usageError(`serve: the folder must be a non-empty path (${commandHint('serve')})`);
  const port = integerOption('port', values.port, { min: 0, max: 65535, rule: 'a port number from 0 to 65535 (0 picks a free one)' }) ?? DEFAULT_SERVE_PORT;
  const host = textOption('host', values.host) ?? DEFAULT_SERVE_HOST;
  const server = await startStaticServer({
    root: dir,
    port,
    host,
    // Missing files are what a user debugging a page needs to see; successes would drown them.
    onRequest: (path, status) => { if (status >= 400) process.stderr.write(`${status} ${JSON.stringify(path)}\n`); },
  });
  process.stdout.write(`serving ${dir} at ${server.url} (cross-origin isolated: COOP/COEP set)\n`);
  await new Promise<void>((done) => server.server.once('close', () => done()));
  return 0;
}

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve a folder over HTTP on this machine, with the headers that make its pages cross-origin isolated',
  usage: ['serve [DIR] [--port 8080] [--host 127.0.0.1]'],
  details: [
    'Serves the files of DIR (default: the current folder) for trying a page locally. Every response has',
    '  Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp and',
    '  Cross-Origin-Resource-Policy: same-origin,',
    'which make the page cross-origin isolated (SharedArrayBuffer, which the real-time engine needs).',
    'A folder\'s URL serves its index.html; nothing outside DIR is served; Range requests are answered.',
    'Runs until Ctrl-C. It is not a production server: there, send the same two headers from your own.',
  ],
  options: {
    port: { type: 'string', short: 'p', value: 'N', description: 'the port to listen on (default 8080; 0 picks a free one)' },
    host: { type: 'string', value: 'ADDRESS', description: 'the address to listen on (default 127.0.0.1: this machine only)' },
  },
  examples: [
    { command: 'stemstream serve public', what: 'serves ./public at http://127.0.0.1:8080/' },
    { command: 'stemstream serve . --port 5000', what: 'the current folder, on port 5000' },
    { command: 'stemstream model web -o public/models/ && stemstream serve public', what: 'a model for <stem-player model="models/default.json"> in public/index.html, then the page' },
  ],
  run: runServe,
});
