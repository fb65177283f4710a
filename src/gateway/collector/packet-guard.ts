/**
 * [COL-17] Bounds the size of every MQTT packet before it is buffered: reads the fixed header
 * of each packet (type byte, then the 1..4-byte Remaining Length of MQTT 3.1.1 §2.2.3) as bytes
 * stream past, and refuses the stream as soon as a packet announces more than `maxBytes`.
 * Aedes 1.2 would otherwise buffer a packet of up to 256 MB before any hook sees it.
 */
import { GatemeshError } from '../../core/index.ts'

export class PacketSizeGuard {
  private readonly maxBytes: number
  /** Bytes of the current packet's body still to pass; -1 while reading a fixed header. */
  private remaining = -1
  private headerByte = false
  private length = 0
  private multiplier = 1
  /** Set once this guard refused a packet; every later chunk is refused too. */
  refused?: GatemeshError

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
  }

  /** Takes the next bytes of the stream; false (and `refused` set) once a packet is too large. */
  feed (chunk: Uint8Array): boolean {
    if (this.refused !== undefined) return false
    let i = 0
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const step = Math.min(this.remaining, chunk.length - i)
        this.remaining -= step
        i += step
        continue
      }
      if (!this.headerByte) {
        // the packet type and flags
        this.headerByte = true
        this.length = 0
        this.multiplier = 1
        i++
        continue
      }
      const byte = chunk[i] as number
      i++
      this.length += (byte & 0x7f) * this.multiplier
      this.multiplier *= 128
      if (this.length > this.maxBytes || (this.multiplier >= 128 ** 4 && (byte & 0x80) !== 0)) {
        this.refused = new GatemeshError('GM_ERR_READING_TOO_LARGE', `An MQTT packet is at most ${this.maxBytes} bytes.`)
        return false
      }
      if ((byte & 0x80) === 0) {
        this.headerByte = false
        this.remaining = this.length
      }
    }
    return true
  }
}
