/**
 * [COL-13] [COL-24] A journal group: the readings of one journal transaction, encoded together
 * and encrypted as the `sealed` column of one row of table `groups`.
 *
 * The plaintext of a group is its readings, in the order they were appended, each encoded as
 *
 *     u16 n | n bytes: sensorId (UTF-8) | f64 ts | f64 seq | u32 m | m bytes: the reading
 *
 * (integers unsigned big-endian, f64 an IEEE 754 binary64 big-endian), with nothing before,
 * between or after them. `sealed` is the AES-256-GCM ciphertext of that plaintext followed by
 * the 16-byte tag, under the journal key of the row's `epoch`, nonce = `counterNonce(ctr)`,
 * associated data = the ASCII of `group LF <epoch> LF <ctr> LF <count>` (decimal). A row whose
 * `sealed` does not decrypt, or whose plaintext is not exactly `count` readings, is unreadable.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto'
import { GatemeshError, counterNonce } from '../../core/index.ts'
import type { CollectedReading } from './journal.ts'

const TAG_BYTES = 16
const MAX_SENSOR_BYTES = 0xffff
/** u16 n, f64 ts, f64 seq, u32 m. */
const FIXED_BYTES = 2 + 8 + 8 + 4
const sensorIds = new TextDecoder('utf-8', { fatal: true })

/** [COL-24] The associated data of a group row: its public metadata. */
function groupAad (epoch: number, ctr: number, count: number): Buffer {
  return Buffer.from(`group\n${epoch}\n${ctr}\n${count}`, 'latin1')
}

/**
 * The plaintext of a group (see above). `alloc` gives the output buffer: Node's pool by default;
 * the seal pool, which sends the same encoding to its threads, asks for one it can transfer.
 */
export function encodeGroup (readings: readonly CollectedReading[], alloc: (size: number) => Buffer = Buffer.allocUnsafe): Buffer {
  let size = 0
  const idBytes: number[] = []
  for (const r of readings) {
    const n = Buffer.byteLength(r.sensorId, 'utf8')
    if (n > MAX_SENSOR_BYTES) throw new GatemeshError('GM_ERR_JOURNAL', 'A sensor id of more than 65 535 bytes cannot be journaled.')
    idBytes.push(n)
    size += FIXED_BYTES + n + r.plaintext.length
  }
  const out = alloc(size)
  let at = 0
  for (let i = 0; i < readings.length; i++) {
    const r = readings[i] as CollectedReading
    const n = idBytes[i] as number
    at = out.writeUInt16BE(n, at)
    at += out.write(r.sensorId, at, n, 'utf8')
    at = out.writeDoubleBE(r.ts, at)
    at = out.writeDoubleBE(r.seq, at)
    at = out.writeUInt32BE(r.plaintext.length, at)
    out.set(r.plaintext, at)
    at += r.plaintext.length
  }
  return out
}

/** The `count` readings of a group's plaintext, or undefined when it is not exactly that. */
export function decodeGroup (bytes: Uint8Array, count: number): CollectedReading[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const readings: CollectedReading[] = []
  let at = 0
  try {
    while (at < bytes.length) {
      if (readings.length >= count || bytes.length - at < FIXED_BYTES) return undefined
      const n = view.getUint16(at)
      if (bytes.length - at < FIXED_BYTES + n) return undefined
      const sensorId = sensorIds.decode(bytes.subarray(at + 2, at + 2 + n))
      at += 2 + n
      const ts = view.getFloat64(at)
      const seq = view.getFloat64(at + 8)
      const m = view.getUint32(at + 16)
      at += 20
      if (bytes.length - at < m) return undefined
      // a copy (Buffer's slice would be a view): the reading outlives the group's buffer
      readings.push({ sensorId, ts, seq, plaintext: new Uint8Array(bytes.subarray(at, at + m)) })
      at += m
    }
  } catch {
    return undefined // a sensor id that is not UTF-8
  }
  return readings.length === count ? readings : undefined
}

/** [COL-24] A group's `sealed`: AES-256-GCM of its plaintext under the epoch's key, nonce = the counter. */
export function sealGroup (key: KeyObject, epoch: number, ctr: number, readings: readonly CollectedReading[]): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, counterNonce(ctr))
  cipher.setAAD(groupAad(epoch, ctr, readings.length))
  return Buffer.concat([cipher.update(encodeGroup(readings)), cipher.final(), cipher.getAuthTag()])
}

/** The readings of a group row, or undefined when it does not decrypt or decode. */
export function openGroup (key: KeyObject, epoch: number, ctr: number, count: number, sealed: Uint8Array): CollectedReading[] | undefined {
  if (sealed.length < TAG_BYTES || !Number.isSafeInteger(count) || count < 1) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, counterNonce(ctr))
    decipher.setAAD(groupAad(epoch, ctr, count))
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES))
    const plaintext = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()])
    return decodeGroup(plaintext, count)
  } catch {
    return undefined
  }
}
