/**
 * The client's transport reads an answer in however many chunks it comes (a gateway, or whatever
 * stands in between, decides how it is cut), within its byte bound.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isGatemeshError } from '../core/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { Transport } from './http.ts'

/** A JSON answer of `text`, one byte a chunk. */
function trickled (text: string): Response {
  const bytes = new TextEncoder().encode(text)
  let at = 0
  const body = new ReadableStream<Uint8Array>({
    pull (controller) {
      if (at >= bytes.length) { controller.close(); return }
      // a few thousand bytes a pull, each its own chunk
      for (let end = Math.min(bytes.length, at + 4096); at < end; at++) controller.enqueue(bytes.subarray(at, at + 1))
    }
  })
  return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
}

describe('Transport: answers in many chunks', () => {
  it('reads a JSON answer of 300 000 one-byte chunks', async () => {
    const value = 'x'.repeat(300_000 - 12)
    const transport = new Transport({ gateway: 'http://127.0.0.1:9', suite: createNodeCryptoSuite(), fetch: async () => trickled(JSON.stringify({ value })) })
    const answer = await transport.request('GET', '/v1/network')
    assert.equal(answer.value, value)
  })

  it('still refuses an answer past its bound', async () => {
    const transport = new Transport({ gateway: 'http://127.0.0.1:9', suite: createNodeCryptoSuite(), fetch: async () => trickled(JSON.stringify({ value: 'x'.repeat(5000) })) })
    await assert.rejects(transport.request('GET', '/v1/network', { maxBytes: 1000 }), err => isGatemeshError(err, 'GM_ERR_CLIENT_BAD_RESPONSE'))
  })
})
