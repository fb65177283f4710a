/**
 * [PER-2] A revoked collector's envelopes and checkpoints are refused and never stored: the real
 * store handler and StoreVerifier over the gateway's real certificate trust (createCertificateTrust,
 * with its cache of verified certificates), a real CA, real certificates and real signed CRLs
 * (src/pki). Whoever pushes them (the collector itself, a persistence peer repairing, with the
 * certificate given or relying on one held) gets GM_ERR_PERSISTENCE_CERT_REJECTED once the CRL
 * naming the collector's serial is the replica's current one, and `range` shows nothing new.
 */
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeSealer, generateIdentity, openCheckpoint, signCheckpoint, toHex, utf8 } from '../../core/index.ts'
import type { CheckpointLink, SigningKey } from '../../core/index.ts'
import { createNodeCryptoSuite } from '../../platform/node-crypto.ts'
import { createCertificateAuthority, createRevocationList, issueGatewayCertificate } from '../../pki/index.ts'
import type { CaKeys, RevocationEntry } from '../../pki/index.ts'
import type { VerifiedPeer, VerifiedRevocationList } from '../../overlay/index.ts'
import { createCertificateTrust } from '../trust.ts'
import { createMemoryEngineForTests } from './engine/memory.ts'
import { createHandler } from './handlers.ts'
import { StoreVerifier, gwPeerId } from './verify.ts'
import type { RangeResponse, StoreRequest, StoreResponse } from './protocol.ts'

const suite = createNodeCryptoSuite()
const SENSOR = 'boiler-3'
/** A checkpoint bucket ([PER-10]) in late 2025; seqs in µs. */
const B0 = 29_400_000
const seqAt = (bucket: number, i: number): number => (B0 + bucket) * 60_000_000 + 1_000 + i * 1_000_000
const reader = await generateIdentity(suite)
const recipients = [{ id: reader.pseudonym, publicKey: reader.encPub }]
const signal = new AbortController().signal

interface Collector { key: SigningKey, peerId: string, sealer: EnvelopeSealer, cert: Uint8Array, serial: string, head: CheckpointLink | null }

async function collector (ca: CaKeys, roles: Array<'collector' | 'persistence'> = ['collector']): Promise<Collector> {
  const key = await suite.importSigningKey(suite.randomBytes(32))
  const peerId = gwPeerId(key.publicKey)
  const issued = await issueGatewayCertificate(ca, { publicKey: key.publicKey, peerId, roles })
  return { key, peerId, sealer: new EnvelopeSealer({ suite, signer: key }), cert: issued.der, serial: issued.serial, head: null }
}

/** Seals one reading per seq (one batch). */
async function seal (gw: Collector, seqs: readonly number[]): Promise<Uint8Array[]> {
  const outcomes = await gw.sealer.sealBatch(seqs.map(seq => ({ header: { sensor: SENSOR, ts: Math.floor(seq / 1000), seq }, plaintext: utf8(`reading ${seq}`), recipients })))
  return outcomes.map(o => { if (!('envelope' in o)) throw new Error('not sealed'); return o.envelope })
}

/** Signs gw's next checkpoint (part 0 of `bucket`) naming `seqs`. */
async function checkpoint (gw: Collector, bucket: number, seqs: number[]): Promise<Uint8Array> {
  const bytes = await signCheckpoint(suite, gw.key, { sensor: SENSOR, gw: gw.key.publicKey, bucket: B0 + bucket, part: 0, prev: gw.head, seqs })
  const opened = await openCheckpoint(suite, bytes)
  gw.head = { bucket: opened.bucket, part: opened.part, h: opened.hash }
  return bytes
}

/** A replica: the real handler and verifier on an in-memory engine, with a CRL the test moves forward. */
async function replica (ca: CaKeys): Promise<{
  handler: ReturnType<typeof createHandler>
  engine: ReturnType<typeof createMemoryEngineForTests>
  revoke: (entries: RevocationEntry[]) => Promise<VerifiedRevocationList>
}> {
  const trust = createCertificateTrust(ca.certificate)
  let number = 1
  let current: VerifiedRevocationList | undefined = await trust.verifyRevocationList(await createRevocationList(ca, { number, entries: [], nextUpdate: new Date(Date.now() + 3_600_000) }))
  const verifier = new StoreVerifier({ trust, revocations: () => current, sensorExists: async () => true })
  const engine = createMemoryEngineForTests()
  return {
    handler: createHandler({ suite, engine, verifier, assertRoom: async () => {} }),
    engine,
    // [OVL-21] a newer CRL (higher number) becomes the current one
    revoke: async entries => {
      number++
      current = await trust.verifyRevocationList(await createRevocationList(ca, { number, entries, nextUpdate: new Date(Date.now() + 3_600_000) }))
      return current
    }
  }
}

const peer = (c: Collector, services: string[]): VerifiedPeer => ({ peerId: c.peerId, roles: services, services } as unknown as VerifiedPeer)

describe('a revoked collector\'s items are refused and never stored [PER-2]', () => {
  it('accepted before the CRL names its serial; after: its own push, a repair push with its certificate, and pushes relying on the held certificate are all GM_ERR_PERSISTENCE_CERT_REJECTED', async () => {
    const { privateKey, certificate } = await createCertificateAuthority({ name: 'revocation test CA' })
    const ca: CaKeys = { privateKey, certificate }
    const a = await collector(ca)
    const b = await collector(ca)
    const repairer = await collector(ca, ['persistence'])
    const { handler, engine, revoke } = await replica(ca)
    const store = async (from: VerifiedPeer, request: Omit<StoreRequest, 'op'>): Promise<StoreResponse> =>
      await handler({ op: 'store', ...request }, from, signal) as StoreResponse
    const rangeAll = async (): Promise<RangeResponse> =>
      await handler({ op: 'range', sensor: SENSOR, fromSeq: seqAt(0, 0) - 1_000, toSeq: seqAt(10, 0), order: 'asc', limit: 1000 }, peer(repairer, ['persistence']), signal) as RangeResponse

    // before the revocation: a's own push (with its certificate), a repair push of a's items, a push relying on the held certificate
    const before = await seal(a, [seqAt(0, 0), seqAt(0, 1), seqAt(0, 2)])
    const cp0 = await checkpoint(a, 0, [seqAt(0, 0), seqAt(0, 1), seqAt(0, 2)])
    assert.deepEqual(await store(peer(a, ['collector']), { certs: [a.cert], envs: [before[0] as Uint8Array], cps: [] }), { ok: true, stored: 1, duplicates: 0, rejected: [] })
    assert.deepEqual(await store(peer(repairer, ['persistence']), { certs: [a.cert], envs: [before[1] as Uint8Array], cps: [cp0] }), { ok: true, stored: 1, duplicates: 0, rejected: [] })
    assert.deepEqual(await store(peer(a, ['collector']), { certs: [], envs: [before[2] as Uint8Array], cps: [] }), { ok: true, stored: 1, duplicates: 0, rejected: [] })
    const bBefore = await seal(b, [seqAt(0, 5)])
    assert.equal((await store(peer(b, ['collector']), { certs: [b.cert], envs: bBefore, cps: [] })).stored, 1)
    const held = await rangeAll()
    assert.equal(held.envs.length, 4)
    assert.equal(held.cps.length, 1)
    assert.equal((await engine.certificates([a.key.publicKey])).length, 1, 'a\'s certificate is held')

    // the CRL naming a's serial becomes the replica's current one
    const crl = await revoke([{ serial: a.serial, revokedAt: new Date() }])
    assert.ok(crl.serials.has(a.serial))

    const after = await seal(a, [seqAt(1, 0), seqAt(1, 1), seqAt(1, 2), seqAt(1, 3)])
    const cp1 = await checkpoint(a, 1, [seqAt(1, 0), seqAt(1, 1), seqAt(1, 2), seqAt(1, 3)])
    const REJECTED = 'GM_ERR_PERSISTENCE_CERT_REJECTED'
    // (a) the collector's own push, with its (now revoked) certificate
    assert.deepEqual(await store(peer(a, ['collector']), { certs: [a.cert], envs: [after[0] as Uint8Array], cps: [cp1] }), {
      ok: true, stored: 0, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: REJECTED }, { i: 0, kind: 'cp', code: REJECTED }]
    })
    // (b) a repair push from a persistence peer carrying a's envelopes and checkpoint, a's certificate in certs;
    // b's reading in the same push is still stored (only a is refused)
    const bAfter = await seal(b, [seqAt(1, 5)])
    assert.deepEqual(await store(peer(repairer, ['persistence']), { certs: [a.cert, b.cert], envs: [after[1] as Uint8Array, bAfter[0] as Uint8Array], cps: [cp1] }), {
      ok: true, stored: 1, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: REJECTED }, { i: 0, kind: 'cp', code: REJECTED }]
    })
    // (c) pushes giving no certificate, relying on the one the replica holds: from the repairer and from a itself
    assert.deepEqual(await store(peer(repairer, ['persistence']), { certs: [], envs: [after[2] as Uint8Array], cps: [cp1] }), {
      ok: true, stored: 0, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: REJECTED }, { i: 0, kind: 'cp', code: REJECTED }]
    })
    assert.deepEqual(await store(peer(a, ['collector']), { certs: [], envs: [after[3] as Uint8Array], cps: [] }), {
      ok: true, stored: 0, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: REJECTED }]
    })
    // a reading of a's held already, pushed again: refused too, not counted as a duplicate
    assert.deepEqual(await store(peer(a, ['collector']), { certs: [a.cert], envs: [before[0] as Uint8Array], cps: [] }), {
      ok: true, stored: 0, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: REJECTED }]
    })

    // nothing of a's new is stored: the four readings held before, b's new one, the one checkpoint
    const now = await rangeAll()
    assert.deepEqual(now.envs.map(toHex), [...held.envs, bAfter[0] as Uint8Array].map(toHex))
    assert.deepEqual(now.cps.map(toHex), [toHex(cp0)])
    assert.deepEqual(engine.readings().filter(r => r.seq >= seqAt(1, 0) && toHex(r.gw) === toHex(a.key.publicKey)), [])
    assert.deepEqual((await engine.checkpoints(SENSOR, B0 + 1, B0 + 1)), [])
  })

  it('a certificate verified (and remembered) under one CRL is checked again when a CRL with a higher number arrives, even within the same second', async () => {
    const { privateKey, certificate } = await createCertificateAuthority()
    const ca: CaKeys = { privateKey, certificate }
    const a = await collector(ca)
    const { handler, revoke } = await replica(ca)
    const envs = await seal(a, [seqAt(2, 0), seqAt(2, 1), seqAt(2, 2)])
    const push = async (env: Uint8Array): Promise<StoreResponse> => await handler({ op: 'store', certs: [a.cert], envs: [env], cps: [] }, peer(a, ['collector']), signal) as StoreResponse
    assert.equal((await push(envs[0] as Uint8Array)).stored, 1)
    // an unrelated revocation (another serial) first: a is still accepted under the new number
    await revoke([{ serial: '7badc0de', revokedAt: new Date() }])
    assert.equal((await push(envs[1] as Uint8Array)).stored, 1)
    // then the CRL naming a: the certificate remembered as verified is not taken on trust
    await revoke([{ serial: '7badc0de', revokedAt: new Date() }, { serial: a.serial, revokedAt: new Date() }])
    assert.deepEqual(await push(envs[2] as Uint8Array), { ok: true, stored: 0, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: 'GM_ERR_PERSISTENCE_CERT_REJECTED' }] })
  })
})

describe('a renewed collector: every certificate given for its key is tried [PER-2]', () => {
  const DAY = 86_400_000
  /** a's first certificate (expired, or revoked) and its renewal (valid now), same key. */
  async function renewed (ca: CaKeys, firstExpired: boolean): Promise<{ a: Collector, first: Uint8Array, firstSerial: string, second: Uint8Array }> {
    const a = await collector(ca)
    const first = await issueGatewayCertificate(ca, { publicKey: a.key.publicKey, peerId: a.peerId, roles: ['collector'], ...(firstExpired ? { now: new Date(Date.now() - 40 * DAY) } : {}) })
    const second = await issueGatewayCertificate(ca, { publicKey: a.key.publicKey, peerId: a.peerId, roles: ['collector'], now: new Date(Date.now() - 5 * DAY) })
    return { a, first: first.der, firstSerial: first.serial, second: second.der }
  }

  it('a repair push giving the held certificates newest first (as range, fetch and repair give them) is stored when the oldest has expired', async () => {
    const { privateKey, certificate } = await createCertificateAuthority()
    const ca: CaKeys = { privateKey, certificate }
    const { a, first, second } = await renewed(ca, true)
    const repairer = await collector(ca, ['persistence'])
    const { handler, engine } = await replica(ca)
    const envs = await seal(a, [seqAt(3, 0), seqAt(3, 1)])
    for (const [i, certs] of [[second, first], [first, second]].entries()) {
      const answer = await handler({ op: 'store', certs, envs: [envs[i] as Uint8Array], cps: [] }, peer(repairer, ['persistence']), signal) as StoreResponse
      assert.deepEqual(answer, { ok: true, stored: 1, duplicates: 0, rejected: [] }, `certificates given ${i === 0 ? 'newest' : 'oldest'} first`)
    }
    // the valid one is kept; the expired one is not ([PER-2]: valid now)
    assert.deepEqual((await engine.certificates([a.key.publicKey])).map(c => toHex(c.der)), [toHex(second)])
  })

  it('a revoked first certificate given beside the renewal does not refuse the renewal\'s items, and a lone revoked one still does', async () => {
    const { privateKey, certificate } = await createCertificateAuthority()
    const ca: CaKeys = { privateKey, certificate }
    const { a, first, firstSerial, second } = await renewed(ca, false)
    const repairer = await collector(ca, ['persistence'])
    const { handler, engine, revoke } = await replica(ca)
    await revoke([{ serial: firstSerial, revokedAt: new Date() }])
    const envs = await seal(a, [seqAt(4, 0), seqAt(4, 1), seqAt(4, 2)])
    const store = async (certs: Uint8Array[], env: Uint8Array): Promise<StoreResponse> => await handler({ op: 'store', certs, envs: [env], cps: [] }, peer(repairer, ['persistence']), signal) as StoreResponse
    assert.deepEqual(await store([first], envs[0] as Uint8Array), { ok: true, stored: 0, duplicates: 0, rejected: [{ i: 0, kind: 'env', code: 'GM_ERR_PERSISTENCE_CERT_REJECTED' }] })
    assert.equal((await engine.certificates([a.key.publicKey])).length, 0, 'a revoked certificate is never stored')
    assert.deepEqual(await store([second, first], envs[1] as Uint8Array), { ok: true, stored: 1, duplicates: 0, rejected: [] })
    assert.deepEqual(await store([first, second], envs[2] as Uint8Array), { ok: true, stored: 1, duplicates: 0, rejected: [] })
    assert.deepEqual((await engine.certificates([a.key.publicKey])).map(c => toHex(c.der)), [toHex(second)])
  })

  it('two valid certificates of one key given together (a renewal overlapping the first) are both kept, for readers of readings sealed under either', async () => {
    const { privateKey, certificate } = await createCertificateAuthority()
    const ca: CaKeys = { privateKey, certificate }
    const { a, first, second } = await renewed(ca, false)
    const repairer = await collector(ca, ['persistence'])
    const { handler, engine } = await replica(ca)
    const envs = await seal(a, [seqAt(5, 0)])
    const answer = await handler({ op: 'store', certs: [second, first], envs, cps: [] }, peer(repairer, ['persistence']), signal) as StoreResponse
    assert.equal(answer.stored, 1)
    assert.deepEqual(new Set((await engine.certificates([a.key.publicKey])).map(c => toHex(c.der))), new Set([toHex(first), toHex(second)]))
  })
})
