// The history reader's own work over fakes [PER-53]: how often it asks for a collector's
// certificate check ([ENV-10]) on a page, that every reading stays checked at its own time, and
// the CBOR answer's byte strings ([PER-56]).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeSealer, GatemeshError, equalBytes, generateIdentity, readEnvelopeHeader, toBase64Url, utf8 } from '../core/index.ts'
import type { Envelope, HistoryPageInput, Recipient } from '../core/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'
import { HistoryReader, READ_AHEAD_PAGES, type HistoryComponents } from './history.ts'
import { inThreadPages, type PageProcessor } from './history-pages.ts'

const GW = new Uint8Array(32).fill(7)
const OTHER = new Uint8Array(32).fill(9)
const T0 = 1_800_000_000_000

/** Fake "envelope" bytes: [gw byte, reading index as 2 bytes]; the fake page verifier decodes them. */
function bytesOf (gw: Uint8Array, index: number): Uint8Array {
  return Uint8Array.of(gw[0] as number, index >> 8, index & 0xff)
}

function envelopeOf (bytes: Uint8Array): Envelope {
  const index = ((bytes[1] as number) << 8) | (bytes[2] as number)
  const ts = T0 + index * 1000
  return { v: 1, sensor: 's1', ts, seq: ts * 1000, nonce: new Uint8Array(12), ct: new Uint8Array(16), wraps: [], gw: new Uint8Array(32).fill(bytes[0] as number), sig: new Uint8Array(64) }
}

interface Fake { components: HistoryComponents, checks: Array<{ gw: number, ts: number }> }

/** A reader's components over a one-page answer of `readings`; the certificate holds for ts in [validFrom, validTo]. */
function fake (readings: Uint8Array[], validity: { from: number, to: number }, asBytes = false): Fake {
  const checks: Array<{ gw: number, ts: number }> = []
  const certificate = Uint8Array.of(1, 2, 3)
  const components: HistoryComponents = {
    suite: createNodeCryptoSuite(),
    fetchPage: async () => ({
      sensor: 's1',
      replica: '12D3KooWFake',
      replicas: ['12D3KooWFake'],
      readings: asBytes ? readings : readings.map(toBase64Url),
      checkpoints: [],
      certificates: asBytes ? [certificate] : [toBase64Url(certificate)]
    }),
    verifyPage: async (_suite, page: HistoryPageInput) => ({ envelopes: page.envelopes.map(envelopeOf), openEnds: [] }),
    verifyCollector: async (gw, _certificate, ts) => {
      checks.push({ gw: gw[0] as number, ts })
      if (ts < validity.from || ts > validity.to) throw new GatemeshError('GM_ERR_CLIENT_READING_UNAUTHENTIC', `not valid at ${ts}`)
      return { peerId: `peer-${gw[0] as number}`, roles: ['collector'], notAfter: new Date(validity.to) }
    },
    open: async envelope => ({ header: { sensor: envelope.sensor, ts: envelope.ts, seq: envelope.seq }, plaintext: Uint8Array.of(49), gateway: envelope.gw })
  }
  return { components, checks }
}

async function read (components: HistoryComponents, order: 'asc' | 'desc' = 'asc'): Promise<Array<{ seq: number, peer: string }>> {
  const out: Array<{ seq: number, peer: string }> = []
  for await (const r of new HistoryReader(components, 's1', { from: T0, to: T0 + 3_600_000, order })) out.push({ seq: r.seq, peer: r.gatewayPeerId })
  return out
}

describe('history reader: certificate checks per page [ENV-10]', () => {
  it('checks a collector at its earliest and latest reading of the page, not once per reading', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const indexes = Array.from({ length: 200 }, (_, i) => i)
      const page = (order === 'asc' ? indexes : indexes.reverse()).map(i => bytesOf(GW, i))
      const { components, checks } = fake(page, { from: T0, to: T0 + 3_600_000 })
      const got = await read(components, order)
      assert.equal(got.length, 200)
      assert.ok(got.every(r => r.peer === 'peer-7'))
      // before: one check per reading (200)
      assert.deepEqual(checks.map(c => c.ts).sort((a, b) => a - b), [T0, T0 + 199_000], order)
    }
  })

  it('checks each collector of a mixed page apart', async () => {
    const page = Array.from({ length: 100 }, (_, i) => bytesOf(i % 2 === 0 ? GW : OTHER, i))
    const { components, checks } = fake(page, { from: T0, to: T0 + 3_600_000 })
    const got = await read(components)
    assert.deepEqual(got.map(r => r.peer), page.map(b => `peer-${b[0] as number}`))
    assert.equal(checks.length, 4)
  })

  it('still refuses the first reading outside the certificate\'s validity, by its seq', async () => {
    const page = Array.from({ length: 100 }, (_, i) => bytesOf(GW, i))
    // valid for readings 0..49 only: the latest fails, so the readings between are each checked
    const { components } = fake(page, { from: T0, to: T0 + 49_000 })
    await assert.rejects(read(components), (err: GatemeshError) => {
      assert.equal(err.code, 'GM_ERR_CLIENT_READING_UNAUTHENTIC')
      assert.match(err.message, new RegExp(`Reading ${(T0 + 50_000) * 1000} `))
      return true
    })
  })
})

describe('history reader: the CBOR answer [PER-56]', () => {
  it('takes readings, checkpoints and certificates as byte strings', async () => {
    const page = Array.from({ length: 5 }, (_, i) => bytesOf(GW, i))
    const { components } = fake(page, { from: T0, to: T0 + 3_600_000 }, true)
    assert.deepEqual((await read(components)).map(r => r.seq), page.map(b => envelopeOf(b).seq))
  })

  it('refuses a list that mixes byte strings and text', async () => {
    const { components } = fake([bytesOf(GW, 0)], { from: T0, to: T0 + 3_600_000 }, true)
    const fetchPage = components.fetchPage
    components.fetchPage = async (q, max) => ({ ...await fetchPage(q, max), readings: [bytesOf(GW, 0), toBase64Url(bytesOf(GW, 1))] })
    await assert.rejects(read(components), { code: 'GM_ERR_CLIENT_BAD_RESPONSE' })
  })
})

describe('history reader: the next page read ahead [PER-53]', () => {
  const suite = createNodeCryptoSuite()
  const reader = generateIdentity(suite)
  /** Nine readings sealed at T0 + i s by each of two collectors, one per replica (a replica's readings tell which it is). */
  const sealed = (async () => {
    const recipients: Recipient[] = [{ id: (await reader).pseudonym, publicKey: (await reader).encPub }]
    const by = async (): Promise<Uint8Array[]> => {
      const signer = await suite.importSigningKey(suite.randomBytes(32))
      const out = await new EnvelopeSealer({ suite, signer }).sealBatch(Array.from({ length: 9 }, (_, i) => ({ header: { sensor: 's1', ts: T0 + i * 1000, seq: (T0 + i * 1000) * 1000 }, plaintext: utf8(`r${i}`), recipients })))
      return out.map(o => (o as { envelope: Uint8Array }).envelope)
    }
    return { A: await by(), B: await by() }
  })()

  /** Three pages of three readings, each answered by replica A unless the query names one; pages of the replicas in `tampered` fail verification. */
  async function paged (events: string[], tampered: ReadonlySet<string>, slowVerify = false): Promise<HistoryComponents> {
    const readings = await sealed
    const { components } = fake([], { from: T0, to: T0 + 3_600_000 })
    const replicaOf = (bytes: Uint8Array): string => equalBytes(readEnvelopeHeader(bytes).gw, readEnvelopeHeader(readings.A[0] as Uint8Array).gw) ? 'A' : 'B'
    return {
      ...components,
      fetchPage: async query => {
        const replica = query.replica ?? 'A'
        const at = query.cursor === undefined ? 0 : Number(query.cursor)
        events.push(`fetch ${at} from ${replica}`)
        return {
          sensor: 's1',
          replica,
          replicas: ['A', 'B'],
          readings: readings[replica as 'A' | 'B'].slice(at, at + 3).map(toBase64Url),
          checkpoints: [],
          certificates: [toBase64Url(Uint8Array.of(1, 2, 3))],
          ...(at + 3 < 9 ? { next: String(at + 3) } : {})
        }
      },
      verifyPage: async (_suite, page: HistoryPageInput) => {
        const envelopes = page.envelopes.map(bytes => ({ ...envelopeOf(Uint8Array.of(1, 0, 0)), ...readEnvelopeHeader(bytes) }))
        const replica = replicaOf(page.envelopes[0] as Uint8Array)
        // a verification that takes a turn of the event loop: the answers meanwhile are handled
        if (slowVerify) await new Promise(resolve => setImmediate(resolve))
        events.push(`verify ${((envelopes[0]?.ts as number) - T0) / 1000} from ${replica}`)
        if (tampered.has(replica)) throw new GatemeshError('GM_ERR_HISTORY_TAMPERED', 'a reading dropped')
        return { envelopes, openEnds: [] }
      }
    }
  }

  it('asks for the next page before the current one is verified, and yields every reading once, in order', async () => {
    const events: string[] = []
    const got = await read(await paged(events, new Set()))
    assert.deepEqual(got.map(r => (r.seq / 1000 - T0) / 1000), [0, 1, 2, 3, 4, 5, 6, 7, 8])
    assert.deepEqual(events, ['fetch 0 from A', 'fetch 3 from A', 'verify 0 from A', 'fetch 6 from A', 'verify 3 from A', 'verify 6 from A'])
  })

  it(`asks for up to ${READ_AHEAD_PAGES} pages ahead while a page is verified, each once`, async () => {
    const events: string[] = []
    const got = await read(await paged(events, new Set(), true))
    assert.deepEqual(got.map(r => (r.seq / 1000 - T0) / 1000), [0, 1, 2, 3, 4, 5, 6, 7, 8])
    // page 6 is asked as soon as page 3 answered, before page 0's verification ends
    assert.deepEqual(events, ['fetch 0 from A', 'fetch 3 from A', 'fetch 6 from A', 'verify 0 from A', 'verify 3 from A', 'verify 6 from A'])
  })

  it('after a page fails verification, the pages that follow come from the replica that answered honestly', async () => {
    const events: string[] = []
    const reported: string[] = []
    const out: number[] = []
    for await (const r of new HistoryReader(await paged(events, new Set(['A'])), 's1', { from: T0, to: T0 + 3_600_000, onReplicaMisbehaved: m => { reported.push(m.replica) } })) out.push((r.seq / 1000 - T0) / 1000)
    assert.deepEqual(out, [0, 1, 2, 3, 4, 5, 6, 7, 8])
    assert.deepEqual(reported, ['A'])
    // the page read ahead from A is never taken: every page verified after the first is B's
    assert.deepEqual(events.filter(e => e.startsWith('verify')), ['verify 0 from A', 'verify 0 from B', 'verify 3 from B', 'verify 6 from B'])
  })
})

describe('history reader: where pages are verified and opened [PER-53]', () => {
  /** A processor that counts the pages given to it and hands them to the reader's own thread. */
  function counting (components: HistoryComponents): { pages: PageProcessor, given: number[] } {
    const given: number[] = []
    const local = inThreadPages(components)
    return { given, pages: { verify: async input => { given.push(input.envelopes.length); return await local.verify(input) }, open: async id => await local.open(id), drop: id => { local.drop(id) } } }
  }
  const readings = Array.from({ length: 5 }, (_, i) => bytesOf(GW, i))

  it('a read of one page stays in the reader\'s thread and never makes the processor; a longer one goes to the processor given', async () => {
    const { components } = fake(readings, { from: T0, to: T0 + 3_600_000 })
    let made = 0
    const one = counting(components)
    let n = 0
    for await (const _ of new HistoryReader({ ...components, pages: () => { made++; return one.pages } }, 's1', { from: T0, to: T0 + 3_600_000, limit: 5, pageSize: 5 })) n++
    assert.equal(n, 5)
    // not even made (a worker thread is not started for it)
    assert.equal(made, 0)
    assert.deepEqual(one.given, [])
    const more = counting(components)
    n = 0
    for await (const _ of new HistoryReader({ ...components, pages: () => { made++; return more.pages } }, 's1', { from: T0, to: T0 + 3_600_000 })) n++
    assert.equal(n, 5)
    assert.equal(made, 1)
    assert.deepEqual(more.given, [5])
  })
})
