// [PER-50] A gateway that is itself one of a sensor's replicas serves that replica's history from
// its own store: with real processes, a network of one gateway running collector, access and
// persistence (so its own replica is the only one) answers `history` with the reading it collected.
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createClient } from '../../src/client/index.ts'
import type { HistoryReading, Session } from '../../src/client/index.ts'
import { fromBase64 } from '../../src/core/index.ts'
import { startNetwork } from '../../src/demo/network.ts'
import type { Network } from '../../src/demo/network.ts'

const SENSOR = 'solo-greenhouse'

describe('history at a gateway that is the sensor\'s only replica [PER-50]', { timeout: 120_000 }, () => {
  let dir: string
  let network: Network | undefined

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gm-own-replica-'))
    network = await startNetwork({ dir, gateways: [{ name: 'solo', services: ['collector', 'access', 'persistence'] }] })
  })
  after(async () => {
    await network?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers the history from its own replica', async () => {
    const gw = (network as Network).gateways[0]
    assert.ok(gw !== undefined)
    const client = createClient({ gateway: gw.ready.access as string, caCertificate: fromBase64(((await (await fetch(`${gw.ready.access as string}/v1/network`)).json()) as { caCertificate: string }).caCertificate) })
    const signup = await client.signup('own replica password 1')
    const session: Session = await client.resume(signup.bundle, 'own replica password 1')
    const { credential } = await session.addSensor(SENSOR)
    const sent = await fetch(`${gw.ready.collector?.http as string}/v1/sensors/${SENSOR}/readings`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${credential}` }, body: '{"t":7}'
    })
    assert.equal(sent.status, 202)
    // stored once the collector's outbox has handed it to the replica (itself): poll the history
    const deadline = Date.now() + 30_000
    let readings: HistoryReading[] = []
    let last: unknown
    while (readings.length === 0 && Date.now() < deadline) {
      try {
        readings = []
        for await (const reading of session.history(SENSOR, { from: Date.now() - 600_000, to: Date.now() + 60_000 })) readings.push(reading)
      } catch (err) {
        last = err
      }
      if (readings.length === 0) await new Promise(resolve => setTimeout(resolve, 500))
    }
    assert.equal(readings.length, 1, `no history: ${String((last as { code?: string } | undefined)?.code ?? last)}`)
    assert.equal(readings[0]?.text, '{"t":7}')
  })
})
