/**
 * [STR-49] Rogue certified stream peers against a real access gateway process: peers with a real
 * certificate granting `stream` (in-test CA, libp2p on 127.0.0.1) answer
 * `/gatemesh/stream-endpoints/1.0.0` with a URL whose host is Content-Security-Policy syntax
 * (`evil.example;sandbox`, `*`), an answer far past the frame's bound, or nothing at all. None of
 * them may reach the gateway's `GET /v1/network` `streams` or the page's connect-src ([ACS-23]),
 * `/v1/network` answers at once while one of them keeps the gateway waiting, every bad answer has
 * its stable code, and asking `/v1/network` again and again does not make the gateway dial a
 * failing peer again and again (its retry does). A well-behaved stream peer beside them is listed,
 * so the gateway does ask them.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { lpStream } from '@libp2p/utils'
import { encode, rfc8949EncodeOptions } from 'cborg'
import { isGatemeshError } from '../../src/core/index.ts'
import { createCertificateTrust, createRecordVerifier } from '../../src/gateway/index.ts'
import { STREAM_ENDPOINTS_PROTOCOL, askStreamEndpoints } from '../../src/gateway/stream/endpoints.ts'
import { createOverlayNode } from '../../src/overlay/index.ts'
import { dialable, removeAll, seedGateway, startGateway, tempDir, createTestCa } from '../overlay/helpers.ts'
import { eventuallyValue } from '../support/eventually.ts'
import type { Stream } from '@libp2p/interface'
import type { OverlayNode } from '../../src/overlay/index.ts'
import type { Proc } from '../overlay/helpers.ts'

const GOOD = { mqtt: 'mqtt://127.0.0.1:1', ws: 'ws://127.0.0.1:2/mqtt' }
const frame = (value: unknown): Uint8Array => encode(value, rfc8949EncodeOptions)

type Answer = (stream: Stream) => Promise<void>
const answers: Record<string, Answer> = {
  good: async stream => { await lpStream(stream).write(frame({ v: 1, ...GOOD })); await stream.close() },
  // a directive of its own after connect-src: the whole page sandboxed (no script runs)
  sandbox: async stream => { await lpStream(stream).write(frame({ v: 1, mqtt: 'mqtt://evil.example:1883', ws: 'ws://evil.example;sandbox' })); await stream.close() },
  // a wildcard host: the page may then open a WebSocket to any host
  wildcard: async stream => { await lpStream(stream).write(frame({ v: 1, mqtt: 'mqtt://evil.example:1883', ws: 'wss://*' })); await stream.close() },
  huge: async stream => { await lpStream(stream, { maxDataLength: 1 << 20 }).write(new Uint8Array(100_000).fill(0x61)); await stream.close() },
  // never answers: the asker's 5 s bound ends it
  slow: async stream => { await new Promise(resolve => { stream.addEventListener('close', resolve) }) }
}

describe('rogue certified stream peers against an access gateway [STR-49] [ACS-18] [ACS-23]', { timeout: 120_000 }, () => {
  const dirs: string[] = []
  const rogues = new Map<string, { overlay: OverlayNode, asked: number }>()
  let gateway: Proc
  let access: string

  const network = async (): Promise<{ streams?: Array<{ mqtt: string, ws: string }> }> =>
    await (await fetch(`${access}/v1/network`)).json() as { streams?: Array<{ mqtt: string, ws: string }> }
  const connectSrc = async (): Promise<string | undefined> => {
    const res = await fetch(`${access}/`)
    await res.arrayBuffer()
    return res.headers.get('content-security-policy')?.split('; ').find(d => d.startsWith('connect-src'))
  }

  before(async () => {
    const ca = await createTestCa()
    const trust = createCertificateTrust(ca.certificate)
    const gwDir = await tempDir('gm-endpoints-hostile-')
    dirs.push(gwDir)
    await seedGateway(gwDir, ca, { roles: ['access'] })
    gateway = await startGateway({ data: gwDir, extra: ['--services', 'access', '--access-port', '0'] })
    access = (gateway.ready as unknown as { access: string }).access
    for (const [mode, answer] of Object.entries(answers)) {
      const dir = await tempDir('gm-endpoints-rogue-')
      dirs.push(dir)
      const id = await seedGateway(dir, ca, { roles: ['stream'] })
      const overlay = await createOverlayNode({ privateKey: id.privateKey, trust, records: createRecordVerifier() }, {
        dataDir: dir, certificate: id.certificate, services: ['stream'], bootstrap: [dialable(gateway.ready)], exchangeTimeout: 3000
      })
      const rogue = { overlay, asked: 0 }
      await overlay.handle(STREAM_ENDPOINTS_PROTOCOL, async stream => {
        rogue.asked++
        await answer(stream).catch(() => { stream.abort(new Error('rogue gave up')) })
      })
      await overlay.start()
      rogues.set(mode, rogue)
    }
  })

  after(async () => {
    await Promise.all([...rogues.values()].map(async r => { await r.overlay.stop() }))
    await gateway?.stop()
    await removeAll(dirs)
  })

  it('lists the well-behaved peer only, and lets the page open its origin only', async () => {
    await eventuallyValue('the good stream peer listed', async () => (await network()).streams?.some(s => s.ws === GOOD.ws) === true ? true : undefined, 60_000)
    await eventuallyValue('every rogue asked', async () => [...rogues.values()].every(r => r.asked > 0) ? true : undefined, 30_000)
    // the slow one is being waited on now (or will be on its retry): /v1/network does not wait
    const started = Date.now()
    const answer = await network()
    assert.ok(Date.now() - started < 2000, `/v1/network took ${Date.now() - started} ms`)
    assert.deepEqual(answer.streams, [GOOD])
    assert.equal(await connectSrc(), "connect-src 'self' ws://127.0.0.1:2")
  })

  it('refuses each bad answer with its stable code', async () => {
    const asker = (rogues.get('good') as { overlay: OverlayNode }).overlay
    const ask = async (mode: string): Promise<unknown> => await askStreamEndpoints(asker, (rogues.get(mode) as { overlay: OverlayNode }).overlay.peerId).then(() => undefined, (err: unknown) => err)
    for (const mode of ['sandbox', 'wildcard', 'huge']) {
      const err = await ask(mode)
      assert.ok(isGatemeshError(err, 'GM_ERR_STREAM_ENDPOINTS_MALFORMED'), `${mode}: ${String(err)}`)
    }
    const started = Date.now()
    const err = await ask('slow')
    assert.ok(isGatemeshError(err, 'GM_ERR_STREAM_ENDPOINTS_UNREACHABLE'), `slow: ${String(err)}`)
    assert.ok(Date.now() - started < 8000, 'the 5 s bound')
  })

  it('does not dial a failing peer for each GET /v1/network (its retry does)', async () => {
    const huge = rogues.get('huge') as { asked: number }
    const before = huge.asked
    for (let i = 0; i < 40; i++) await network()
    // its retries (1 s, 2 s, 4 s... after each failure) may fall in this time, the requests add nothing
    assert.ok(huge.asked - before <= 3, `asked ${huge.asked - before} times during 40 requests`)
  })
})
