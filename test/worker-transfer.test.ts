/**
 * An export's archive crosses from the worker to the main thread by transfer
 * (protocol.ts transferList): the sender's buffer is detached, nothing
 * is copied, and the files arrive as views into the received archive. Through
 * a real MessageChannel, the same structured clone the worker's port uses.
 */
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { exportStems } from '../src/export/stems-export.js';
import { transferList, type FromWorker } from '../src/engine/protocol.js';

async function exportedMessage(): Promise<Extract<FromWorker, { type: 'exported' }>> {
  const stem = (k: number) => [Float32Array.from({ length: 4410 }, (_, i) => 0.5 * Math.sin(0.01 * k * i)), new Float32Array(4410).fill(0.01 * k)];
  const out = await exportStems({ stems: [stem(1), stem(2)], sources: ['drums', 'vocals'], sampleRate: 44100, baseName: 'song' });
  return { type: 'exported', id: 7, files: out.files, zip: out.zip, zipName: out.zipName, clipped: out.clipped, clipping: out.clipping };
}

function send(m: FromWorker, transfer: ArrayBuffer[]): Extract<FromWorker, { type: 'exported' }> {
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(m, transfer);
  const received = receiveMessageOnPort(port2)?.message as Extract<FromWorker, { type: 'exported' }>;
  port1.close();
  return received;
}

describe('worker → main: transfer, not copy', () => {
  it("an export's archive is transferred; its files arrive as views into the received archive", async () => {
    const m = await exportedMessage();
    const zipBytes = m.zip.slice();
    const fileBytes = m.files.map((f) => f.data.slice());
    expect(m.files.every((f) => f.data.buffer === m.zip.buffer)).toBe(true);

    const received = send(m, transferList(m));
    expect(m.zip.byteLength).toBe(0); // detached on the sending side: moved, not copied
    expect(received.zip).toEqual(zipBytes);
    received.files.forEach((f, i) => {
      expect(f.data.buffer).toBe(received.zip.buffer);
      expect(f.data).toEqual(fileBytes[i]);
    });
  });

  it('the probe can fail: without the transfer list the archive is copied and stays with the sender', async () => {
    const m = await exportedMessage();
    const received = send(m, []);
    expect(m.zip.byteLength).toBeGreaterThan(0);
    expect(received.zip).toEqual(m.zip);
  });

  it('other messages transfer nothing (their buffers may be shared or still in use)', () => {
    expect(transferList({ type: 'export-progress', id: 1, phase: 'encoding', fraction: 0.5 })).toEqual([]);
    const shared = new Uint8Array(new SharedArrayBuffer(8));
    expect(transferList({ type: 'exported', id: 1, files: [], zip: shared, zipName: 'x.zip', clipped: [], clipping: [] })).toEqual([]);
  });
});
