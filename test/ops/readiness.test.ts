// /readyz with real processes ([ADM-2]): the first gateway of a network (no --bootstrap, no saved
// peer) is ready alone; a gateway restarted from its data directory without --bootstrap, whose
// saved peer ([OVL-25]) is down, is not ready until that peer is back and verified.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { createTestCa, dialable, removeAll, seedGateway, startGateway, tempDir } from '../overlay/helpers.ts'
import type { Proc } from '../overlay/helpers.ts'
import { eventuallyValue } from '../support/eventually.ts'
import { freePort } from '../support/free-port.ts'

async function readyz (proc: Proc): Promise<{ status: number, body: { status: string, reason?: string } }> {
  const res = await fetch(`${proc.ready.admin as string}/readyz`)
  return { status: res.status, body: await res.json() as { status: string, reason?: string } }
}

describe('readiness and rejoining', { timeout: 120_000 }, () => {
  const dirs: string[] = []
  const procs: Proc[] = []
  after(async () => {
    for (const p of procs) await p.kill()
    await removeAll(dirs)
  })

  it('a gateway restarted without --bootstrap is not ready while its saved peer is down, and ready once it is back', async () => {
    const root = await tempDir('gm-ops-ready-')
    dirs.push(root)
    const ca = await createTestCa()
    const [dataA, dataB] = [join(root, 'a'), join(root, 'b')]
    await seedGateway(dataA, ca, { roles: ['collector'] })
    await seedGateway(dataB, ca, { roles: ['collector'] })
    // A keeps its overlay port across restarts: B's saved address of it stays good
    const listenA = `/ip4/127.0.0.1/tcp/${await freePort()}`
    const services = ['--services', '']

    // the first gateway of a network, with nothing to join through, is ready alone
    const a = await startGateway({ data: dataA, extra: [...services, '--listen', listenA] })
    procs.push(a)
    assert.deepEqual(await readyz(a), { status: 200, body: { status: 'ready' } })

    const b = await startGateway({ data: dataB, bootstrap: [dialable(a.ready)], extra: services })
    procs.push(b)
    await eventuallyValue('b ready', async () => (await readyz(b)).status === 200 ? true : undefined, 30_000)
    // a clean stop saves A as B's peer ([OVL-25]); then A goes down too
    assert.equal(await b.stop(), 0)
    assert.match(await readFile(join(dataB, 'peers.json'), 'utf8'), new RegExp(a.ready.peerId))
    assert.equal(await a.stop(), 0)

    // B again, from its data directory alone: services up, but alone while it has a peer to rejoin
    const b2 = await startGateway({ data: dataB, extra: services })
    procs.push(b2)
    const alone = await readyz(b2)
    assert.equal(alone.status, 503)
    assert.equal(alone.body.status, 'not ready')
    assert.match(alone.body.reason ?? '', /not joined/)

    // A back at its address (no bootstrap, and nobody verified when it stopped: the first again)
    const a2 = await startGateway({ data: dataA, extra: [...services, '--listen', listenA] })
    procs.push(a2)
    await eventuallyValue('a ready again', async () => (await readyz(a2)).status === 200 ? true : undefined, 30_000)
    const joined = await eventuallyValue('b ready once a is back', async () => {
      const state = await readyz(b2)
      return state.status === 200 ? state.body : undefined
    }, 30_000)
    assert.deepEqual(joined, { status: 'ready' })
    assert.equal(await b2.stop(), 0)
    assert.equal(await a2.stop(), 0)
  })
})
