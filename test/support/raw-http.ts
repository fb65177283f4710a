/** A raw HTTP/1.1 exchange over a TCP socket, for what fetch cannot send (bad paths, trickled headers). */
import { once } from 'node:events'
import { connect } from 'node:net'

export interface RawExchange {
  /** Everything the server sent before it closed the connection. */
  text: string
  /** The status of the first answer, 0 when none came. */
  status: number
  /** The JSON body of the first answer, when it is JSON. */
  json: Record<string, unknown> | undefined
  /** Milliseconds from the connection's opening to its close. */
  closedAfterMs: number
}

/**
 * Opens a connection, lets `talk` write to it (at once, or over time), and resolves once the
 * server closed it (the socket's `close` event), with what came back.
 */
export async function rawExchange (port: number, talk: (write: (text: string) => void) => (() => void) | undefined): Promise<RawExchange> {
  const socket = connect(port, '127.0.0.1')
  socket.on('error', () => { /* a reset after the answer: what was read is kept */ })
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  await once(socket, 'connect')
  const opened = performance.now()
  const closed = new Promise<void>(resolve => { socket.on('close', () => { resolve() }) })
  const stop = talk(text => { if (!socket.destroyed) socket.write(text) })
  await closed
  stop?.()
  const closedAfterMs = performance.now() - opened
  const text = Buffer.concat(chunks).toString('utf8')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
  const body = text.slice(text.indexOf('\r\n\r\n') + 4)
  let json: Record<string, unknown> | undefined
  try { json = JSON.parse(body) as Record<string, unknown> } catch { json = undefined }
  return { text, status, json, closedAfterMs }
}
