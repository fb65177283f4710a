/**
 * A sensor's socket made ready for Aedes, which is handed the socket itself (a stream wrapped
 * around it cost the event loop ~6 µs a reading at 5 000 readings/s, measured in 2026-12). Two
 * rules, neither of them a speed-up:
 * - [COL-17] every chunk Aedes reads passes the packet size check (PacketSizeGuard), and a
 *   refused stream is destroyed at once. Aedes reads with read(null) on 'readable'; while a
 *   'readable' listener is on, a 'data' listener is told of each chunk that read() returns and
 *   does not set the stream flowing. So the guard goes on once the broker reads the socket
 *   (after broker.handle), and refuses to go on before: on its own, a 'data' listener would set
 *   the stream flowing past the broker. Aedes gets the chunk that carried the refused header (at
 *   most what one read returns), never the rest of the packet.
 * - a close without an error (the broker's at shutdown, a refusing CONNACK's) lets what the
 *   kernel could not take at once (a slow sensor's last PUBACKs) leave first, for up to 5 s; a
 *   close with an error, or the guard's, is at once.
 * Writes are not corked here: mqtt-packet corks each packet it writes until the next tick, so
 * the PUBACKs of one journal commit, written in one run of microtasks, already leave in one
 * writev. A cork of the collector's own, and read() and write() wrapped instead of the 'data'
 * listener, made no measurable difference on 2026-12-07 (docs/PERFORMANCE.md, "The
 * optimisations audited").
 */
import type { Socket } from 'node:net'
import type { GatemeshError } from '../../core/index.ts'
import { PacketSizeGuard } from './packet-guard.ts'

/** How long a close without an error waits for what is queued (a slow sensor's last PUBACKs). */
export const GRACEFUL_CLOSE_MS = 5000

export function prepareSensorSocket (socket: Socket, maxPacketBytes: number, refused: (err: GatemeshError) => void): void {
  if (socket.listenerCount('readable') === 0) {
    throw new Error('prepareSensorSocket: the broker must read the socket first (call it after broker.handle(socket)).')
  }
  const destroy = socket.destroy
  const guard = new PacketSizeGuard(maxPacketBytes)
  socket.on('data', (chunk: Buffer) => {
    if (guard.feed(chunk)) return
    refused(guard.refused as GatemeshError)
    // at once, not the graceful close below: nothing more is read from a refused stream
    destroy.call(socket)
  })
  socket.destroy = function (this: Socket, err?: Error | null): Socket {
    if ((err === undefined || err === null) && this.writableLength > 0 && !this.destroyed && !this.writableEnded) {
      this.end(() => destroy.call(this))
      setTimeout(() => destroy.call(this), GRACEFUL_CLOSE_MS).unref()
      return this
    }
    return destroy.call(this, err ?? undefined)
  }
}
