/**
 * A writer for the few deterministic CBOR shapes on the hot paths (the reading AAD, the envelope
 * body and the envelope; a signed record around its body): unsigned integers, byte strings, text
 * strings, arrays and maps whose caller writes the keys in canonical order. Its output is byte for
 * byte what cborg's `encodeCanonical` gives for the same value (RFC 8949 §4.2.1: shortest
 * argument, definite lengths); tests hold it to that. What `raw` copies in is the caller's: a
 * canonical item, or a prefix that is no CBOR at all (a record's domain tag). cborg builds a
 * token tree per value and allocated ~10 KiB per envelope (a third of the collector's garbage);
 * this writes straight into one growing buffer.
 * A writer is shared (one per sealer, one for records): every value starts with begin() and ends
 * with finish() or reset(); begin() throws while another value is being written, and writing
 * throws outside begin() and finish(), so a value written inside another (a re-entered writer)
 * fails instead of mixing the two. Sharing still pays (2026-12-07): a fresh writer per value, with
 * a 1 KiB buffer of its own, cost ~3 µs more a reading on the sealing thread (docs/PERFORMANCE.md,
 * "The optimisations audited").
 * Everything else, and all decoding, stays with cborg. [ENC-1]
 */
import { allocBytes } from './bytes.ts'

const textEncoder = new TextEncoder()

export class CborWriter {
  private buffer = new Uint8Array(1024)
  private view = new DataView(this.buffer.buffer)
  private length = 0
  /** A value was begun and not yet finished or reset. */
  private open = false

  /** Starts a value; throws while another one is being written (see the header). */
  begin (): this {
    if (this.open) throw new Error('CborWriter re-entered: a value was begun before the one being written was finished.')
    this.open = true
    return this
  }

  private ensure (extra: number): void {
    if (this.length + extra <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + extra) size *= 2
    const grown = new Uint8Array(size)
    grown.set(this.buffer.subarray(0, this.length))
    this.buffer = grown
    this.view = new DataView(grown.buffer)
  }

  /** The head of a data item: major type and argument in its shortest form (RFC 8949 §3). */
  private head (major: number, value: number): void {
    if (!this.open) throw new Error('CborWriter: begin() a value before writing it.')
    if (!Number.isSafeInteger(value) || value < 0) {
      // the value being written is dropped, so that the shared writer takes the next one
      this.reset()
      throw new RangeError('CBOR arguments are non-negative safe integers.')
    }
    this.ensure(9)
    const type = major << 5
    if (value < 24) {
      this.buffer[this.length++] = type | value
    } else if (value < 0x100) {
      this.buffer[this.length++] = type | 24
      this.buffer[this.length++] = value
    } else if (value < 0x10000) {
      this.buffer[this.length++] = type | 25
      this.view.setUint16(this.length, value)
      this.length += 2
    } else if (value < 0x100000000) {
      this.buffer[this.length++] = type | 26
      this.view.setUint32(this.length, value)
      this.length += 4
    } else {
      this.buffer[this.length++] = type | 27
      this.view.setUint32(this.length, Math.floor(value / 0x100000000))
      this.view.setUint32(this.length + 4, value >>> 0)
      this.length += 8
    }
  }

  uint (value: number): this {
    this.head(0, value)
    return this
  }

  bytes (value: Uint8Array): this {
    this.head(2, value.length)
    this.ensure(value.length)
    this.buffer.set(value, this.length)
    this.length += value.length
    return this
  }

  text (value: string): this {
    // ASCII (every key, sensor id and pseudonym) is one byte per character
    let ascii = true
    for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) { ascii = false; break }
    if (!ascii) return this.textBytes(textEncoder.encode(value))
    this.head(3, value.length)
    this.ensure(value.length)
    for (let i = 0; i < value.length; i++) this.buffer[this.length++] = value.charCodeAt(i)
    return this
  }

  private textBytes (encoded: Uint8Array): this {
    this.head(3, encoded.length)
    this.ensure(encoded.length)
    this.buffer.set(encoded, this.length)
    this.length += encoded.length
    return this
  }

  /** Bytes that already are one canonical data item (or a prefix the caller owns), copied as they are. */
  raw (encoded: Uint8Array): this {
    if (!this.open) throw new Error('CborWriter: begin() a value before writing it.')
    this.ensure(encoded.length)
    this.buffer.set(encoded, this.length)
    this.length += encoded.length
    return this
  }

  array (items: number): this {
    this.head(4, items)
    return this
  }

  /** A map of `entries` pairs; the caller writes each key then its value, keys in canonical order. */
  map (entries: number): this {
    this.head(5, entries)
    return this
  }

  /** Drops what was written since the last finish (after a value turned out not to be writable). */
  reset (): void {
    this.length = 0
    this.open = false
  }

  /** The bytes written since the last finish, as a new array; the writer starts over. */
  finish (): Uint8Array {
    const out = allocBytes(this.length)
    out.set(this.buffer.subarray(0, this.length))
    this.length = 0
    this.open = false
    // a writer kept for a process (records') does not hold on to the largest item it ever wrote
    if (this.buffer.length > 64 * 1024) {
      this.buffer = new Uint8Array(1024)
      this.view = new DataView(this.buffer.buffer)
    }
    return out
  }
}
