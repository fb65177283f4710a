/**
 * The relay protocol's framing ([STR-32]): on a stream of `/gatemesh/stream-relay/1.0.0`, each
 * relay message ([STR-30]) is one frame, its length as an unsigned varint (LEB128, as libp2p's
 * length-prefixed streams write it) and then its bytes. A declared length over 1 MiB is refused
 * before any of its bytes is buffered (GM_ERR_STREAM_RELAY_TOO_LARGE): the stream cannot be
 * resynchronised after it, so the receiver resets it.
 */
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { GatemeshError } from '../../core/index.ts'
import { MAX_RELAY_MESSAGE_BYTES } from './relay-message.ts'

/** [STR-32] The relay's libp2p protocol, under the overlay's prefix ([OVL-32]). */
export const RELAY_PROTOCOL = '/gatemesh/stream-relay/1.0.0'
/** A frame's length prefix is at most this many bytes (a varint of a length ≤ 1 MiB takes 3). */
const MAX_PREFIX_BYTES = 10

/** The varint length prefix of `length` followed by nothing: prepend it to the frame's bytes. */
function varint (length: number): Uint8Array {
  const out: number[] = []
  let n = length
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** [STR-32] One frame: the varint length of `message`, then `message`. */
export function encodeRelayFrame (message: Uint8Array): Uint8Array {
  if (message.length === 0) throw new GatemeshError('GM_ERR_STREAM_RELAY_MALFORMED', 'An empty relay message.')
  if (message.length > MAX_RELAY_MESSAGE_BYTES) throw new GatemeshError('GM_ERR_STREAM_RELAY_TOO_LARGE', `${message.length} > ${MAX_RELAY_MESSAGE_BYTES} bytes.`)
  const prefix = varint(message.length)
  const frame = new Uint8Array(prefix.length + message.length)
  frame.set(prefix, 0)
  frame.set(message, prefix.length)
  return frame
}

/** A chunk of a stream: bytes, or the list of them a libp2p stream's 'message' event carries. */
export type StreamChunk = Parameters<LengthPrefixedDecoder['decode']>[0]

/** Splits a byte stream into frames. */
export interface RelayFrameDecoder {
  /**
   * The whole frames `chunk` completes, in order; throws GM_ERR_STREAM_RELAY_TOO_LARGE when a
   * frame declares more than 1 MiB (before its bytes are buffered), after which the decoder is
   * unusable.
   */
  push: (chunk: StreamChunk) => Uint8Array[]
}

export function createRelayFrameDecoder (): RelayFrameDecoder {
  // a chunk of the stream is at most one muxer frame or the paused read buffer: the buffer holds
  // a whole frame, its prefix and such a chunk
  const decoder = new LengthPrefixedDecoder({ maxDataLength: MAX_RELAY_MESSAGE_BYTES, maxBufferSize: 2 * MAX_RELAY_MESSAGE_BYTES + 4 * 1024 * 1024 + MAX_PREFIX_BYTES })
  return {
    push (chunk) {
      const frames: Uint8Array[] = []
      try {
        for (const frame of decoder.decode(chunk)) frames.push(frame.subarray())
      } catch (err) {
        throw new GatemeshError('GM_ERR_STREAM_RELAY_TOO_LARGE', 'A relay frame declares more than 1 MiB.', { cause: err })
      }
      return frames
    }
  }
}
