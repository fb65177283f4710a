// The admin surface's answers to what no route handles ([ADM-1], [HTTP-1]): an unknown route, a
// path that does not decode, a request line that does not parse all carry a GM_ERR_ code. The
// overlay is a fake: these requests never reach it, and /v1/peers reads one method of it.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import { after, before, describe, it } from 'node:test'
import type { OverlayNode } from '../overlay/index.ts'
import { startAdmin, type AdminServer } from './admin.ts'

async function rawRequest (url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url)
  const socket = connect(Number(port), hostname)
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => chunks.push(chunk))
  await once(socket, 'connect')
  socket.write(head)
  await once(socket, 'close', { signal: AbortSignal.timeout(5000) })
  return Buffer.concat(chunks).toString('utf8')
}

describe('admin surface: errors carry a code [ADM-1]', () => {
  let admin: AdminServer
  const asked: number[] = []
  before(async () => {
    const overlay = {
      findPeersByRole: async (_role: string, _key: string, count: number) => { asked.push(count); return [] }
    } as unknown as OverlayNode
    admin = await startAdmin(overlay, 0)
  })
  after(async () => { await admin.close() })

  it('answers an unknown route 404 GM_ERR_ADMIN_NOT_FOUND', async () => {
    for (const path of ['/nope', '/v1/dht', '/v2/status']) {
      const res = await fetch(`${admin.url}${path}`)
      assert.equal(res.status, 404, path)
      assert.equal((await res.json() as { code: string }).code, 'GM_ERR_ADMIN_NOT_FOUND', path)
    }
    const res = await fetch(`${admin.url}/v1/crl/sync`, { method: 'DELETE' })
    assert.equal(res.status, 404)
    assert.equal((await res.json() as { code: string }).code, 'GM_ERR_ADMIN_NOT_FOUND')
  })

  it('answers a path that is not valid percent-encoded UTF-8 400 GM_ERR_HTTP_MALFORMED [HTTP-1]', async () => {
    for (const path of ['/v1/dht/gm-sensor/%E0%A4%A', '/v1/dht/%ff', '/%zz']) {
      const res = await fetch(`${admin.url}${path}`)
      const body = await res.json() as { code: string, message: string }
      assert.equal(res.status, 400, path)
      assert.equal(body.code, 'GM_ERR_HTTP_MALFORMED', path)
      assert.equal(typeof body.message, 'string')
    }
  })

  it('answers a request line that does not parse 400 GM_ERR_HTTP_MALFORMED and closes [HTTP-1]', async () => {
    const answer = await rawRequest(admin.url, 'GET /v1/status HTTP/1.1 extra\r\nHost: x\r\n\r\n')
    assert.match(answer, /^HTTP\/1\.1 400 /)
    assert.match(answer, /"code":"GM_ERR_HTTP_MALFORMED"/)
  })

  it('takes count of /v1/peers as a number 1 to 100, and refuses others with GM_ERR_ADMIN_BAD_REQUEST', async () => {
    assert.equal((await fetch(`${admin.url}/v1/peers?role=collector&key=k&count=10`)).status, 200)
    assert.equal((await fetch(`${admin.url}/v1/peers?role=collector&key=k`)).status, 200)
    assert.deepEqual(asked, [10, 3])
    for (const count of ['0', '101', '1e2', 'x', '-1']) {
      const res = await fetch(`${admin.url}/v1/peers?role=collector&key=k&count=${count}`)
      assert.equal(res.status, 400, count)
      assert.equal((await res.json() as { code: string }).code, 'GM_ERR_ADMIN_BAD_REQUEST', count)
    }
  })
})
