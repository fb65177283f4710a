import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import { lpStream, streamPair } from '@libp2p/utils'
import { EnvelopeSealer, generateIdentity, utf8 } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import { createHandler } from './handlers.ts'
import { gwPeerId, type StoreVerifier } from './verify.ts'
import {
  decodeRequest, decodeResponse, encodeRequest, encodeResponse, request, serve,
  MAX_CERT_BYTES, MAX_CERTS, MAX_CHECKPOINT_BYTES, MAX_ENVELOPE_BYTES, MAX_FRAME_BYTES, MAX_STORE_CHECKPOINTS, MAX_STORE_ENVELOPES
} from './protocol.ts'
import type { PersistenceRequest, StoreRequest } from './protocol.ts'
import type { VerifiedPeer } from '../../overlay/index.ts'

const gw = new Uint8Array(32).fill(7)

function refused (fn: () => unknown, code = 'GM_ERR_PERSISTENCE_BAD_REQUEST', what?: unknown): void {
  assert.throws(fn, (err: { code?: string }) => err.code === code, what === undefined ? undefined : `refused: ${JSON.stringify(what, (_k, v: unknown) => v instanceof Uint8Array ? `bytes(${v.length})` : Array.isArray(v) && v.length > 8 ? `list(${v.length})` : v)}`)
}

describe('persistence protocol codec [PER-2]', () => {
  it('round-trips every op', () => {
    const requests: PersistenceRequest[] = [
      { op: 'store', certs: [new Uint8Array([1])], envs: [new Uint8Array([2, 3])], cps: [] },
      { op: 'range', sensor: 's-1', fromSeq: 0, toSeq: 10, order: 'desc', after: [5, gw], limit: 100 },
      { op: 'range', sensor: 's-1', fromSeq: 0, toSeq: 10, order: 'asc', limit: 1 },
      { op: 'digest', sensor: 's-1', fromBucket: 3, toBucket: 4 },
      { op: 'ids', sensor: 's-1', fromSeq: 1, toSeq: 1 },
      { op: 'ids', sensor: 's-1', fromSeq: 7, toSeq: 7 + 3_600_000_000 },
      { op: 'fetch', sensor: 's-1', ids: [[1, gw]] },
      { op: 'fetch', sensor: 's-1', ids: [], cps: [[150_000_000, 0, gw], [150_000_001, 2, gw]] },
      { op: 'sensors', limit: 10, after: 'a' }
    ]
    for (const r of requests) assert.deepEqual(decodeRequest(encodeRequest(r)), r)
  })

  it('decodes a frame whose map keys are not in canonical order as the canonical one; a head longer than needed is still refused', () => {
    const envs = [new Uint8Array([0xa1, 0x61, 0x62, 0x01]), new Uint8Array(300).fill(9)]
    const canonical = encodeRequest({ op: 'store', certs: [new Uint8Array([1])], envs, cps: [] })
    // the same map, keys in insertion order (not RFC 8949's); a head in 2 bytes instead of 1 (cborg's strict decode refuses it)
    const reordered = encode({ op: 'store', envs, certs: [new Uint8Array([1])], cps: [] }, { mapSorter: () => 0 })
    const at = canonical.indexOf(0x82)
    refused(() => decodeRequest(new Uint8Array([...canonical.subarray(0, at), 0x98, 0x02, ...canonical.subarray(at + 1)])))
    for (const frame of [canonical, reordered, Buffer.from(canonical)]) {
      const decoded = decodeRequest(frame) as StoreRequest
      assert.deepEqual(decoded, { op: 'store', certs: [new Uint8Array([1])], envs, cps: [] })
      for (const e of decoded.envs) assert.equal(Object.getPrototypeOf(e), Uint8Array.prototype)
    }
    assert.notDeepEqual(reordered, canonical)
  })

  it('refuses hostile request frames with GM_ERR_PERSISTENCE_BAD_REQUEST', () => {
    const hostile: unknown[] = [
      'not a map', [1, 2], null, 42,
      { op: 'drop-table' },
      { op: 'store', certs: [], envs: [] },
      { op: 'store', certs: [], envs: ['text'], cps: [] },
      { op: 'store', certs: [], envs: [new Uint8Array(0)], cps: [] },
      { op: 'store', certs: [], envs: Array.from({ length: MAX_STORE_ENVELOPES + 1 }, () => new Uint8Array(1)), cps: [] },
      { op: 'store', certs: [], envs: [], cps: [], extra: 1 },
      { op: 'range', sensor: '../etc', fromSeq: 0, toSeq: 1, order: 'asc', limit: 1 },
      { op: 'range', sensor: 's', fromSeq: 2, toSeq: 1, order: 'asc', limit: 1 },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 1, order: 'up', limit: 1 },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 1, order: 'asc', limit: 0 },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 1, order: 'asc', limit: 10_001 },
      { op: 'range', sensor: 's', fromSeq: -1, toSeq: 1, order: 'asc', limit: 1 },
      { op: 'range', sensor: 's', fromSeq: 0.5, toSeq: 1, order: 'asc', limit: 1 },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 2 ** 53, order: 'asc', limit: 1 },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 1, order: 'asc', limit: 1, after: [1, new Uint8Array(31)] },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 1, order: 'asc', limit: 1, after: [1] },
      { op: 'digest', sensor: 's', fromBucket: 0, toBucket: 10_000 },
      { op: 'fetch', sensor: 's', ids: [[1, 'gw']] },
      { op: 'fetch', sensor: 's', ids: Array.from({ length: 4097 }, () => [1, gw]) },
      { op: 'fetch', sensor: 's', ids: [], cps: [[1, 0]] },
      { op: 'fetch', sensor: 's', ids: [], cps: [[1, 60_000_000, gw]] },
      { op: 'fetch', sensor: 's', ids: [], cps: [[2 ** 53, 0, gw]] },
      { op: 'fetch', sensor: 's', ids: [], cps: [[1, 0, new Uint8Array(31)]] },
      { op: 'fetch', sensor: 's', ids: [], cps: Array.from({ length: 1025 }, () => [1, 0, gw]) },
      // [PER-2] bounds of every list and item of a store
      { op: 'store', certs: [], envs: [new Uint8Array(MAX_ENVELOPE_BYTES + 1)], cps: [] },
      { op: 'store', certs: [], envs: [], cps: [new Uint8Array(MAX_CHECKPOINT_BYTES + 1)] },
      { op: 'store', certs: [], envs: [], cps: Array.from({ length: MAX_STORE_CHECKPOINTS + 1 }, () => new Uint8Array(1)) },
      { op: 'store', certs: [new Uint8Array(MAX_CERT_BYTES + 1)], envs: [], cps: [] },
      { op: 'store', certs: Array.from({ length: MAX_CERTS + 1 }, () => new Uint8Array(1)), envs: [], cps: [] },
      { op: 'store', certs: [], envs: [new Uint8Array(1)], cps: [], op2: 'x' },
      // a range's `after` is a key inside the range (as every cursor is, [PER-51])
      { op: 'range', sensor: 's', fromSeq: 10, toSeq: 20, order: 'asc', limit: 1, after: [9, gw] },
      { op: 'range', sensor: 's', fromSeq: 10, toSeq: 20, order: 'desc', limit: 1, after: [20, gw] },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 20, order: 'asc', limit: 1, after: [2 ** 53, gw] },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 20, order: 'asc', limit: 1, after: ['1', gw] },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 20, order: 'asc', limit: 1, after: [1, gw, 2] },
      { op: 'range', sensor: 's', fromSeq: 0, toSeq: 20, order: 'asc', limit: 1, after: null },
      // ids and digest bounds
      { op: 'ids', sensor: 's', fromSeq: 2, toSeq: 1 },
      { op: 'ids', sensor: 's', fromSeq: 0, toSeq: 2 ** 53 },
      // an ids request over more than one repair bucket (an hour): the replica would read it all
      { op: 'ids', sensor: 's', fromSeq: 0, toSeq: 2 ** 53 - 1 },
      { op: 'ids', sensor: 's', fromSeq: 7, toSeq: 7 + 3_600_000_001 },
      { op: 'ids', sensor: 's', fromSeq: -1, toSeq: 1 },
      { op: 'ids', sensor: 's', fromSeq: 0 },
      { op: 'digest', sensor: 's', fromBucket: 5, toBucket: 4 },
      { op: 'fetch', sensor: 's', ids: [[-1, gw]] },
      { op: 'fetch', sensor: 's', ids: [[2 ** 53, gw]] },
      { op: 'fetch', sensor: 's', ids: [[1, gw]], cps: 'all' },
      { op: 'sensors', limit: 0 },
      { op: 'sensors', limit: 5, after: 7 }
    ]
    for (const value of hostile) refused(() => decodeRequest(encode(value)), undefined, value)
    // not CBOR, truncated, trailing bytes, oversized
    refused(() => decodeRequest(new Uint8Array([0xff, 0x00])))
    refused(() => decodeRequest(encode({ op: 'sensors', limit: 5 }).subarray(0, 5)))
    refused(() => decodeRequest(new Uint8Array([...encode({ op: 'sensors', limit: 5 }), 0])))
    refused(() => decodeRequest(new Uint8Array(MAX_FRAME_BYTES + 1)))
    // duplicate keys
    const dup = new Uint8Array([0xa2, 0x62, 0x6f, 0x70, 0x61, 0x78, 0x62, 0x6f, 0x70, 0x61, 0x79])
    refused(() => decodeRequest(dup))
  })

  it('decodes answers and turns a refusal into its code', () => {
    const stored = decodeResponse('store', encodeResponse({ ok: true, stored: 2, duplicates: 1, rejected: [{ i: 0, kind: 'env', code: 'GM_ERR_BAD_SIGNATURE' }] }))
    assert.equal(stored.stored, 2)
    assert.deepEqual(stored.rejected, [{ i: 0, kind: 'env', code: 'GM_ERR_BAD_SIGNATURE' }])
    refused(() => decodeResponse('store', encodeResponse({ ok: false, code: 'GM_ERR_PERSISTENCE_FULL', message: 'full' })), 'GM_ERR_PERSISTENCE_FULL')
    // a hostile answer is a bad request, never a crash
    refused(() => decodeResponse('range', encode({ ok: true, envs: [], cps: [], certs: [] })))
    refused(() => decodeResponse('digest', encode({ ok: true, buckets: [[1, 2, new Uint8Array(3)]] })))
    refused(() => decodeResponse('store', encode({ ok: 'yes' })))
    refused(() => decodeResponse('ids', encode({ ok: true, ids: [[1, gw, 3]], cps: [], more: false })))
    // [PER-2] ids answers the checkpoint identities too
    assert.deepEqual(decodeResponse('ids', encodeResponse({ ok: true, ids: [[1, gw]], cps: [[3, 1, gw]], more: false })).cps, [[3, 1, gw]])
    refused(() => decodeResponse('ids', encode({ ok: true, ids: [[1, gw]], more: false })))
    refused(() => decodeResponse('ids', encode({ ok: true, ids: [], cps: [[3, -1, gw]], more: false })))
    refused(() => decodeResponse('store', encode({ ok: false, code: 'rm -rf', message: 1 })))
  })
})

describe('persistence protocol over a stream [PER-2]', () => {
  it('carries request and answer frames past 4 MiB up to MAX_FRAME_BYTES (libp2p\'s byte stream buffers 4 MiB unless told)', async () => {
    // 4 096 envelopes of 1.5 KiB (a reading sealed for a few more recipients): a 6 MiB store
    const envs = Array.from({ length: MAX_STORE_ENVELOPES }, (_, i) => new Uint8Array(1536).fill(i & 0xff))
    const big: StoreRequest = { op: 'store', certs: [], envs, cps: [] }
    assert.ok(encodeRequest(big).length > 6 * 1024 * 1024 && encodeRequest(big).length < MAX_FRAME_BYTES)
    let received = 0
    const handle = serve(async req => {
      if (req.op === 'store') {
        received = req.envs.length
        return { ok: true, stored: req.envs.length, duplicates: 0, rejected: [] }
      }
      // a range answer as large: a page of the same envelopes
      return { ok: true, envs, cps: [], certs: [], more: false }
    })
    const dialer = {
      dialProtocol: async () => {
        const [outbound, inbound] = await streamPair()
        void handle(inbound, { peerId: 'peer', roles: ['persistence'], services: ['persistence'] } as unknown as VerifiedPeer)
        return outbound
      }
    }
    const stored = await request(dialer, 'peer', big, { timeoutMs: 30_000 })
    assert.equal(received, MAX_STORE_ENVELOPES)
    assert.equal(stored.stored, MAX_STORE_ENVELOPES)
    const page = await request(dialer, 'peer', { op: 'range', sensor: 's-1', fromSeq: 0, toSeq: 10, order: 'asc', limit: 5000 }, { timeoutMs: 30_000 })
    assert.equal(page.envs.length, MAX_STORE_ENVELOPES)
    assert.deepEqual(page.envs[4095], envs[4095])
  })
})

describe('a store over the limits is refused whole and stores nothing [PER-2]', () => {
  it('4 097 envelopes, an envelope over its bound, a frame over 8 MiB: GM_ERR_PERSISTENCE_BAD_REQUEST over the stream, the engine untouched', async () => {
    const suite = createNodeCryptoSuite()
    const key = await suite.importSigningKey(suite.randomBytes(32))
    const reader = await generateIdentity(suite)
    const [outcome] = await new EnvelopeSealer({ suite, signer: key }).sealBatch([{ header: { sensor: 's-1', ts: 1_760_000_000_000, seq: 1_760_000_000_000_000 }, plaintext: utf8('21.5'), recipients: [{ id: reader.pseudonym, publicKey: reader.encPub }] }])
    if (outcome === undefined || !('envelope' in outcome)) throw new Error('not sealed')
    const envelope = outcome.envelope
    const engine = createMemoryEngineForTests()
    // a verifier that passes everything: only the request's bounds stand between these items and the engine
    const verifier = { checkCollector: async () => ({ notBefore: new Date(0), notAfter: new Date(8.64e15) }), checkSensor: async () => {} } as unknown as StoreVerifier
    const handle = serve(createHandler({ suite, engine, verifier, assertRoom: async () => {} }))
    const pusher = { peerId: gwPeerId(key.publicKey), roles: ['collector'], services: ['collector'] } as unknown as VerifiedPeer
    /** Sends one raw frame (its length prefix as given) and reads the answer. */
    const exchange = async (frame: Uint8Array): Promise<Uint8Array> => {
      const [outbound, inbound] = await streamPair()
      const served = handle(inbound, pusher)
      const lp = lpStream(outbound, { maxDataLength: 2 * MAX_FRAME_BYTES, maxBufferSize: 2 * MAX_FRAME_BYTES })
      void lp.write(frame).catch(() => {})
      const answer = await lp.read({ signal: AbortSignal.timeout(30_000) })
      await served
      return answer.subarray()
    }
    const refusedOverStream = async (frame: Uint8Array, what: string): Promise<void> => {
      await assert.rejects(async () => decodeResponse('store', await exchange(frame)), (err: { code?: string }) => err.code === 'GM_ERR_PERSISTENCE_BAD_REQUEST', what)
    }
    // the same envelope within bounds is stored: the handler and engine work
    const ok = decodeResponse('store', await exchange(encodeRequest({ op: 'store', certs: [], envs: [envelope], cps: [] })))
    assert.equal(ok.stored, 1)
    await engine.deleteBefore('s-1', 2 ** 53)
    assert.equal(engine.readings().length, 0)

    await refusedOverStream(encode({ op: 'store', certs: [], envs: Array.from({ length: MAX_STORE_ENVELOPES + 1 }, () => envelope), cps: [] }), '4 097 envelopes')
    await refusedOverStream(encode({ op: 'store', certs: [], envs: [envelope, new Uint8Array(MAX_ENVELOPE_BYTES + 1)], cps: [] }), 'an envelope over its bound')
    // 8 MiB + 1 of request: two valid envelopes and padding in certificates would pass every item bound; the frame does not
    const padding = Array.from({ length: 200 }, () => new Uint8Array(MAX_CERT_BYTES).fill(1))
    const tooLarge = encode({ op: 'store', certs: padding, envs: [envelope, ...Array.from({ length: 4000 }, () => new Uint8Array(1300).fill(2))], cps: [] })
    assert.ok(tooLarge.length > MAX_FRAME_BYTES, `frame of ${tooLarge.length} bytes`)
    await refusedOverStream(tooLarge, 'a frame over 8 MiB')
    assert.equal(engine.readings().length, 0, 'nothing stored')
  })
})
