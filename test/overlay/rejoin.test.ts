/**
 * A gateway whose certificate exchange with its bootstrap peer fails joins all the same [OVL-3]
 * [OVL-9]: a failed exchange is tried again on a later connection instead of refusing the peer,
 * and a gateway that has lost its peers dials its join addresses again with back-off, for as long
 * as it runs. The bootstrap peer is test/overlay/fixtures/flaky-peer.ts (its own process); the
 * gateway is `gatemesh gateway start`.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { after, describe, it } from 'node:test'
import { freePort } from '../support/free-port.ts'
import { createTestCa, dialable, eventually, removeAll, seedGateway, spawnReady, startGateway, status, tempDir } from './helpers.ts'
import type { Proc, TestCa } from './helpers.ts'

/** Starts fixtures/flaky-peer.ts; `lines` sees every stdout line after the ready one. */
async function startFlaky (args: string[]): Promise<Proc & { command: (op: string) => Promise<Record<string, unknown>>, lines: EventTarget }> {
  const proc = await spawnReady(['test/overlay/fixtures/flaky-peer.ts', ...args], { stdin: true })
  const lines = new EventTarget()
  const answers: Array<(value: Record<string, unknown>) => void> = []
  createInterface({ input: proc.child.stdout! }).on('line', text => {
    const value = JSON.parse(text) as Record<string, unknown>
    if (typeof value.id === 'number') answers.shift()?.(value)
    else lines.dispatchEvent(new CustomEvent(String(value.event), { detail: value }))
  })
  return {
    ...proc,
    lines,
    command: async op => await new Promise(resolve => {
      answers.push(resolve)
      proc.child.stdin!.write(JSON.stringify({ id: 1, op }) + '\n')
    })
  }
}

describe('a gateway whose certificate exchange with its bootstrap peer fails [OVL-3] [OVL-9]', { timeout: 180_000 }, () => {
  const dirs: string[] = []
  const procs: Proc[] = []
  let ca: TestCa
  after(async () => {
    await Promise.all(procs.map(async p => await p.kill()))
    await removeAll(dirs)
  })
  const dir = async (): Promise<string> => { const d = await tempDir('gm-rejoin-'); dirs.push(d); return d }

  it('joins on its next connection when the first exchange times out: the peer is not refused for it', async () => {
    ca = await createTestCa()
    const seedDir = await dir()
    await seedGateway(seedDir, ca)
    // the bootstrap peer verifies its first certificate in 4 s; the gateway waits 1.5 s for an exchange
    const seed = await startFlaky(['--mode', 'slow-first', '--delay', '4000', '--data', seedDir])
    procs.push(seed)
    const gwDir = await dir()
    await seedGateway(gwDir, ca)
    const started = Date.now()
    const gw = await startGateway({ data: gwDir, bootstrap: [dialable(seed.ready)], fast: false, extra: ['--crl-interval', '2000', '--exchange-timeout', '1500'] })
    procs.push(gw)
    // the ready line waits up to 20 s for a verified DHT peer: before, both sides refused each
    // other for 30 s after the timed-out exchange, so it came with none
    assert.equal(gw.ready.peers, 1, `joined within the ready wait (${Date.now() - started} ms)`)
    assert.ok((await status(gw.ready.admin as string)).routingTable.includes(seed.ready.peerId))
    const { verifications } = await seed.command('stats')
    assert.ok((verifications as number) >= 2, `the first exchange failed and a later connection ran it again (${String(verifications)} verifications)`)
  })

  it('dials its bootstrap peer again after the peer dropped it following the exchange, and joins', async () => {
    const seedDir = await dir()
    await seedGateway(seedDir, ca)
    const port = await freePort()
    const listen = `/ip4/127.0.0.1/tcp/${port}`
    // the bootstrap peer answers the exchange, then its own side fails and it closes the connection
    const flaky = await startFlaky(['--mode', 'answer-drop', '--data', seedDir, '--listen', listen])
    procs.push(flaky)
    const dropped = once(flaky.lines, 'dropped')
    const gwDir = await dir()
    await seedGateway(gwDir, ca)
    const gwStart = startGateway({ data: gwDir, bootstrap: [dialable(flaky.ready)] })
    await dropped
    await flaky.stop()
    // the same peer (same key, same address) is a whole gateway again: it knows nobody (first
    // start, no peers.json), so only the dropped gateway dialling it again brings them together
    const seed = await startGateway({ data: seedDir, extra: ['--listen', listen] })
    procs.push(seed)
    const gw = await gwStart
    procs.push(gw)
    await eventually(async () => (await status(gw.ready.admin as string)).routingTable.includes(seed.ready.peerId) &&
      (await status(seed.ready.admin as string)).routingTable.includes(gw.ready.peerId), 15_000, 'the dropped gateway to join its bootstrap peer')
  })
})
