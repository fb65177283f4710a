// The stream broker's session store: aedes-persistence's own compliance suite (what every Aedes
// persistence must pass), then the bound and the filter of the outgoing queues [STR-14] [STR-16].
import { describe, it, test } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { ClientIdOwners, SessionStore, type QueuedPacket } from './sessions.ts'

const require = createRequire(import.meta.url)
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: { test: typeof test, persistence: () => unknown, testAsync: boolean }) => void

describe('aedes-persistence compliance suite', () => {
  abstractPersistence({ test, persistence: () => new SessionStore(), testAsync: true })
})

const broker = { id: 'broker-1', counter: 0 }
const packet = (n: number, topic = 'users/a/x'): QueuedPacket => ({ cmd: 'publish', topic, payload: Buffer.from(String(n)), qos: 1, retain: false, brokerId: broker.id, brokerCounter: n })

async function drain (store: SessionStore, id: string): Promise<string[]> {
  const out: string[] = []
  for await (const p of store.outgoingStream({ id, clean: false, closed: true })) out.push(String((p as QueuedPacket).payload))
  return out
}

describe('session store bounds [STR-16]', () => {
  it('keeps the newest maxPerClient messages per client, counting the dropped ones', async () => {
    let dropped = 0
    const store = new SessionStore({ maxPerClient: 3, dropped: () => { dropped++ } })
    await store.setup(broker)
    for (let n = 1; n <= 7; n++) await store.outgoingEnqueueCombi([{ clientId: 'c1' }, { clientId: 'c2' }], packet(n))
    assert.deepEqual(await drain(store, 'c1'), ['5', '6', '7'])
    assert.deepEqual(await drain(store, 'c2'), ['5', '6', '7'])
    assert.equal(dropped, 8)
    assert.equal(store.queued('c1'), 3)
  })

  it('queues a message only for the client ids admit lets through [STR-14]', async () => {
    const store = new SessionStore({ admit: (clientId, p) => p.topic.startsWith(`users/${clientId}/`) })
    await store.setup(broker)
    await store.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], packet(1, 'users/a/x'))
    assert.deepEqual(await drain(store, 'a'), ['1'])
    assert.deepEqual(await drain(store, 'b'), [])
  })

  it('stores only the subscriptions keep lets through', async () => {
    const store = new SessionStore({ keep: (_client, subs) => subs.filter(s => s.topic !== '#') })
    await store.setup(broker)
    const client = { id: 'a', clean: false, closed: false }
    await store.addSubscriptions(client, [{ topic: '#', qos: 1 }, { topic: 'users/a/#', qos: 1 }])
    assert.deepEqual((await store.subscriptionsByClient(client)).map(s => s.topic), ['users/a/#'])
    assert.deepEqual((await store.subscriptionsByTopic('users/b/x')).length, 0)
  })
})

describe('client id owners [STR-8]', () => {
  it('lets one user hold an id; a persistent session keeps it after its connection ends', () => {
    const owners = new ClientIdOwners()
    const a = { id: 'app', clean: false, closed: false }
    assert.equal(owners.claim(a, 'alice'), true)
    assert.equal(owners.claim({ id: 'app', clean: true, closed: false }, 'bob'), false)
    a.closed = true
    owners.release(a)
    assert.equal(owners.claim({ id: 'app', clean: true, closed: false }, 'bob'), false)
    assert.equal(owners.owner('app'), 'alice')
    const c = { id: 'tmp', clean: true, closed: false }
    assert.equal(owners.claim(c, 'alice'), true)
    c.closed = true
    owners.release(c)
    assert.equal(owners.owner('tmp'), undefined)
    assert.equal(owners.claim({ id: 'tmp', clean: true, closed: false }, 'bob'), true)
  })
})
