// History pages on a worker thread [PER-53]: the same verdicts and plaintexts as in the reader's
// own thread, the same refusals (code and message), and what happens when the worker stops.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { EnvelopeSealer, GatemeshError, generateIdentity, utf8 } from '../core/index.ts'
import type { HistoryPageInput, Identity, Recipient } from '../core/index.ts'
import { EnvelopeOpener, verifyHistoryPage } from '../core/index.ts'
import { inThreadPages, type PageProcessor } from '../client/history-pages.ts'
import { createNodeCryptoSuite } from './node-crypto.ts'
import { createWorkerPages } from './history-pages.ts'

const suite = createNodeCryptoSuite()
const T0 = 1_800_000_000_000

async function rejectsWith (promise: Promise<unknown>, code: string): Promise<GatemeshError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof GatemeshError, `a GatemeshError, not ${String(err)}`)
    assert.equal(err.code, code)
    return err
  }
  assert.fail(`expected ${code}`)
}

/** Ten readings of s1 sealed in one batch: the first eight for `reader` (and another), the last two for the other only. */
async function page (reader: Identity): Promise<{ input: HistoryPageInput, plaintexts: string[] }> {
  const other = await generateIdentity(suite)
  const both: Recipient[] = [reader, other].map(i => ({ id: i.pseudonym, publicKey: i.encPub }))
  const signer = await suite.importSigningKey(suite.randomBytes(32))
  const plaintexts = Array.from({ length: 10 }, (_, i) => `{"t":${i}}`)
  const sealed = await new EnvelopeSealer({ suite, signer }).sealBatch(plaintexts.map((text, i) => ({
    header: { sensor: 's1', ts: T0 + i * 1000, seq: (T0 + i * 1000) * 1000 },
    plaintext: utf8(text),
    recipients: i < 8 ? both : both.slice(1)
  })))
  const envelopes = sealed.map(o => (o as { envelope: Uint8Array }).envelope)
  return { input: { sensor: 's1', fromSeq: T0 * 1000, toSeq: (T0 + 3_600_000) * 1000, order: 'asc', envelopes, checkpoints: [] }, plaintexts }
}

function fallbackFor (reader: Identity): PageProcessor {
  const opener = new EnvelopeOpener({ suite, reader: { pseudonym: reader.pseudonym, agreementKey: reader.agreementKey } })
  return inThreadPages({ suite, verifyPage: verifyHistoryPage, open: async envelope => await opener.openVerified(envelope) })
}

describe('history pages on a worker thread [PER-53]', () => {
  it('verifies and opens a page as the reader\'s own thread does', async () => {
    const reader = await generateIdentity(suite)
    const { input, plaintexts } = await page(reader)
    const local = fallbackFor(reader)
    const pages = createWorkerPages({ pseudonym: reader.pseudonym, agreementSecret: reader.secrets.agreementSecret }, fallbackFor(reader))
    try {
      assert.equal(await pages.ready, true)
      const there = await pages.verify(input)
      const here = await local.verify(input)
      assert.deepEqual(there.heads.map(h => [h.seq, h.ts, [...h.gw]]), here.heads.map(h => [h.seq, h.ts, [...h.gw]]))
      assert.deepEqual(there.openEnds.map(gw => [...gw]), here.openEnds.map(gw => [...gw]))
      const opened = await pages.open(there.id)
      assert.deepEqual(opened, await local.open(here.id))
      assert.deepEqual(opened.slice(0, 8).map(o => new TextDecoder().decode(o as Uint8Array)), plaintexts.slice(0, 8))
      assert.deepEqual(opened.slice(8), ['GM_ERR_NOT_A_RECIPIENT', 'GM_ERR_NOT_A_RECIPIENT'])
      // opened pages are forgotten
      await assert.rejects(pages.open(there.id), /not held/)
    } finally {
      await pages.close()
    }
  })

  it('refuses a tampered page with the code and message of the reader\'s own thread; a dropped page is forgotten', async () => {
    const reader = await generateIdentity(suite)
    const { input } = await page(reader)
    const tampered = { ...input, envelopes: [...input.envelopes] }
    const altered = Uint8Array.from(tampered.envelopes[3] as Uint8Array)
    altered[altered.length - 80] = (altered[altered.length - 80] as number) ^ 1
    tampered.envelopes[3] = altered
    const pages = createWorkerPages({ pseudonym: reader.pseudonym, agreementSecret: reader.secrets.agreementSecret }, fallbackFor(reader))
    try {
      assert.equal(await pages.ready, true)
      const local = await rejectsWith(fallbackFor(reader).verify(tampered), 'GM_ERR_HISTORY_TAMPERED')
      const there = await rejectsWith(pages.verify(tampered), 'GM_ERR_HISTORY_TAMPERED')
      assert.equal(there.message, local.message)
      const kept = await pages.verify(input)
      pages.drop(kept.id)
      await assert.rejects(pages.open(kept.id), /not held/)
    } finally {
      await pages.close()
    }
  })

  it('once the worker stopped, its pages fail with GM_ERR_CLIENT_WORKER_FAILED and new pages are handled in the reader\'s thread', async () => {
    const reader = await generateIdentity(suite)
    const { input, plaintexts } = await page(reader)
    const pages = createWorkerPages({ pseudonym: reader.pseudonym, agreementSecret: reader.secrets.agreementSecret }, fallbackFor(reader))
    assert.equal(await pages.ready, true)
    const held = await pages.verify(input)
    await pages.close()
    await rejectsWith(pages.open(held.id), 'GM_ERR_CLIENT_WORKER_FAILED')
    const after = await pages.verify(input)
    const opened = await pages.open(after.id)
    assert.equal(new TextDecoder().decode(opened[0] as Uint8Array), plaintexts[0])
  })

  it('handles pages in the reader\'s thread until the worker is ready', async () => {
    const reader = await generateIdentity(suite)
    const { input, plaintexts } = await page(reader)
    const pages = createWorkerPages({ pseudonym: reader.pseudonym, agreementSecret: reader.secrets.agreementSecret }, fallbackFor(reader))
    try {
      // asked at once: the worker takes ~0.2 s to load its modules
      const early = await pages.verify(input)
      assert.equal(early.id % 2, 0, 'a page of the reader\'s thread')
      assert.equal(await pages.ready, true)
      const late = await pages.verify(input)
      assert.equal(late.id % 2, 1, 'a page of the worker')
      for (const id of [early.id, late.id]) assert.equal(new TextDecoder().decode((await pages.open(id))[7] as Uint8Array), plaintexts[7])
    } finally {
      await pages.close()
    }
  })
})
