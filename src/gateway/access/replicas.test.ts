// The replica history source [PER-50] [PER-3] over fakes: nearest first, the next on failure,
// only the replica named, codes when none answers, the replica set remembered 30 s.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GatemeshError, isGatemeshError } from '../../core/index.ts'
import { createLogger } from '../../platform/logger.ts'
import { createReplicaHistorySource } from './replicas.ts'
import type { HistoryQuery } from './history.ts'

const QUERY: HistoryQuery = { fromSeq: 0, toSeq: 10, order: 'asc', limit: 5 }
const logger = createLogger('test:replicas', { level: 'silent' })

function setup (down: Set<string>, peers = ['near', 'mid', 'far']): { asked: string[], lookups: () => number, clock: { now: number }, source: ReturnType<typeof createReplicaHistorySource> } {
  const asked: string[] = []
  let lookups = 0
  const clock = { now: 0 }
  const source = createReplicaHistorySource({
    findReplicas: async () => { lookups++; return peers },
    range: async (peer) => {
      asked.push(peer)
      if (down.has(peer)) throw new GatemeshError('GM_ERR_PERSISTENCE_UNREACHABLE')
      return { envs: [new Uint8Array([1])], cps: [], certs: [], more: false }
    },
    logger,
    now: () => clock.now
  })
  return { asked, lookups: () => lookups, clock, source }
}

describe('replica history source', () => {
  it('asks the nearest first and the next when one fails; says who answered', async () => {
    const { asked, source } = setup(new Set(['near']))
    const page = await source('s', QUERY)
    assert.deepEqual(asked, ['near', 'mid'])
    assert.deepEqual([page.replica, page.replicas], ['mid', ['near', 'mid', 'far']])
  })

  it('asks only the replica named, and refuses one that is not the sensor\'s', async () => {
    const { asked, source } = setup(new Set(['far']))
    assert.equal((await source('s', QUERY, 'mid')).replica, 'mid')
    await assert.rejects(source('s', QUERY, 'far'), (err: unknown) => isGatemeshError(err, 'GM_ERR_HISTORY_NO_REPLICA'))
    await assert.rejects(source('s', QUERY, 'stranger'), (err: unknown) => isGatemeshError(err, 'GM_ERR_HISTORY_REPLICA_UNKNOWN'))
    assert.deepEqual(asked, ['mid', 'far'])
  })

  it('fails with GM_ERR_HISTORY_NO_REPLICA when none answers or none exists', async () => {
    const all = setup(new Set(['near', 'mid', 'far']))
    await assert.rejects(all.source('s', QUERY), (err: unknown) => isGatemeshError(err, 'GM_ERR_HISTORY_NO_REPLICA') && /near: GM_ERR_PERSISTENCE_UNREACHABLE/.test(err.message))
    const none = setup(new Set(), [])
    await assert.rejects(none.source('s', QUERY), (err: unknown) => isGatemeshError(err, 'GM_ERR_HISTORY_NO_REPLICA'))
  })

  it('remembers a sensor\'s replicas 30 s, and forgets them when none answered', async () => {
    const down = new Set<string>()
    const { lookups, clock, source } = setup(down)
    await source('s', QUERY)
    clock.now = 29_999
    await source('s', QUERY)
    assert.equal(lookups(), 1)
    clock.now = 30_000
    await source('s', QUERY)
    assert.equal(lookups(), 2)
    for (const peer of ['near', 'mid', 'far']) down.add(peer)
    await assert.rejects(source('s', QUERY))
    down.clear()
    await source('s', QUERY)
    assert.equal(lookups(), 3)
  })
})
