import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { isGatemeshError, type GatemeshError } from '../../core/index.ts'
import { prepareSensorSocket } from './mqtt-socket.ts'

/** A real connection on 127.0.0.1: the server's side (prepared by `setup`) and the client's. */
async function pair (setup: (server: Socket) => void): Promise<{ server: Socket, client: Socket, close: () => void }> {
  let accepted: (s: Socket) => void = () => {}
  const got = new Promise<Socket>(resolve => { accepted = resolve })
  const listener = createServer(socket => { setup(socket); accepted(socket) })
  listener.listen(0, '127.0.0.1')
  await once(listener, 'listening')
  const address = listener.address() as { port: number }
  const client = connect(address.port, '127.0.0.1')
  client.on('error', () => {})
  const server = await got
  server.on('error', () => {})
  return { server, client, close: () => { client.destroy(); server.destroy(); listener.close() } }
}

/** What a broker does: reads with read(null) on 'readable' (Aedes 1.x). */
function readLikeAedes (socket: Socket, into: Buffer[]): void {
  socket.on('readable', () => {
    let chunk: Buffer | null
    while ((chunk = socket.read() as Buffer | null) !== null) into.push(chunk)
  })
}

describe('a sensor\'s socket prepared for the broker', { timeout: 10_000 }, () => {
  it('refuses to be prepared before the broker reads it (a lone data listener would set the stream flowing)', async () => {
    const refusals: Error[] = []
    const p = await pair(server => {
      try { prepareSensorSocket(server, 1000, () => {}) } catch (err) { refusals.push(err as Error) }
    })
    try {
      assert.equal(refusals.length, 1)
      assert.match(refusals[0]!.message, /after broker\.handle/)
    } finally { p.close() }
  })

  it('[COL-17] passes what the broker reads through the size check, without setting the stream flowing, and cuts a packet above the limit off at its header', async () => {
    const read: Buffer[] = []
    const refused: GatemeshError[] = []
    const p = await pair(server => {
      readLikeAedes(server, read)
      prepareSensorSocket(server, 1000, err => refused.push(err))
    })
    try {
      assert.equal(p.server.readableFlowing, false, 'the broker still pulls')
      // a PINGREQ, then a PUBLISH of 200 bytes: within the limit
      const publish = Buffer.concat([Buffer.from([0xc0, 0x00, 0x30, 0xc8, 0x01]), Buffer.alloc(200, 7)])
      p.client.write(publish)
      while (Buffer.concat(read).length < publish.length) await once(p.server, 'readable')
      assert.deepEqual(Buffer.concat(read), publish)
      assert.equal(refused.length, 0)
      // a PUBLISH announcing 1001 bytes (0xe9 0x07): the server closes before the body comes
      const closed = once(p.client, 'close')
      p.client.write(Buffer.from([0x30, 0xe9, 0x07]))
      await closed
      assert.equal(refused.length, 1)
      assert.ok(isGatemeshError(refused[0], 'GM_ERR_READING_TOO_LARGE'))
      assert.ok(p.server.destroyed)
    } finally { p.close() }
  })

  it('lets what is queued leave before a close without an error, and closes at once with one', async () => {
    // more than the kernel takes while the client does not read, so some stays queued
    const big = Buffer.alloc(8 << 20, 1)
    for (const withError of [false, true]) {
      const p = await pair(server => { readLikeAedes(server, []); prepareSensorSocket(server, 1000, () => {}) })
      try {
        p.client.pause()
        p.server.write(big)
        assert.ok(p.server.writableLength > 0, 'the test needs bytes still queued')
        p.server.destroy(withError ? new Error('refused') : undefined)
        let received = 0
        p.client.on('data', (chunk: Buffer) => { received += chunk.length })
        p.client.resume()
        await once(p.client, 'close')
        if (withError) assert.ok(received < big.length, 'a close with an error does not wait')
        else assert.equal(received, big.length, 'a close without an error lets the queued bytes leave first')
      } finally { p.close() }
    }
  })
})
