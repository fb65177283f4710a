/**
 * [STR-5] [STR-9] The stream broker's two listeners: MQTT over TCP (Nagle off) and MQTT over
 * WebSocket (its own HTTP server, path /mqtt, subprotocol mqtt). Both bound the connections held
 * at once and the size of every MQTT packet before Aedes buffers it.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer, type Server, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { WebSocketServer, createWebSocketStream, type WebSocket } from 'ws'
import { PacketSizeGuard } from '../collector/index.ts'

/** What the listeners need of the broker. */
export interface Handler { handle: (conn: Duplex, req?: IncomingMessage) => unknown }

export interface ListenersInit {
  host: string
  port: number
  wsPort: number
  maxConnections: number
  maxPacketBytes: number
  /** Called when a connection is closed for an oversized packet. */
  tooLarge: () => void
}

export interface Listeners {
  port: number
  wsPort: number
  /** The remote address of a connection the listeners accepted. */
  addressOf: (conn: unknown) => string | undefined
  close: () => Promise<void>
}

/**
 * Aedes reads a connection with read(null) on 'readable': every chunk it gets passes the packet
 * size check first, and a connection that announces a packet over the limit is destroyed before
 * Aedes buffers it (Aedes 1.2 would otherwise buffer up to 256 MB). [STR-9]
 */
function guardReads (conn: Duplex, maxBytes: number, tooLarge: () => void): void {
  const guard = new PacketSizeGuard(maxBytes)
  const read = conn.read
  conn.read = function (this: Duplex, size?: number): unknown {
    const chunk: unknown = read.call(this, size)
    if (chunk instanceof Uint8Array && !guard.feed(chunk)) {
      tooLarge()
      this.destroy()
      return null
    }
    return chunk
  }
}

async function listen (server: Server | HttpServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address()
  return typeof address === 'object' && address !== null ? address.port : port
}

export async function openListeners (broker: Handler, init: ListenersInit): Promise<Listeners> {
  const addresses = new WeakMap<object, string>()
  const open = new Set<Duplex>()
  const admit = (conn: Duplex, address: string | undefined): boolean => {
    if (open.size >= init.maxConnections) { conn.destroy(); return false }
    open.add(conn)
    conn.once('close', () => open.delete(conn))
    addresses.set(conn, address ?? 'unknown')
    guardReads(conn, init.maxPacketBytes, init.tooLarge)
    conn.on('error', () => { /* reported through the broker */ })
    return true
  }

  const tcp = createServer({ noDelay: true }, (socket: Socket) => {
    socket.setNoDelay(true)
    if (admit(socket, socket.remoteAddress)) broker.handle(socket)
  })
  tcp.maxConnections = init.maxConnections

  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: ws://host:port/mqtt, subprotocol mqtt\n')
  })
  const wss = new WebSocketServer({
    server: http,
    path: '/mqtt',
    // MQTT packets may span WebSocket messages; the guard bounds each packet, this each message
    maxPayload: 2 * init.maxPacketBytes,
    handleProtocols: protocols => protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false
  })
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const stream = createWebSocketStream(ws)
    if (admit(stream, req.socket.remoteAddress)) broker.handle(stream, req)
  })
  wss.on('error', () => { /* the HTTP server's errors surface at listen */ })

  const port = await listen(tcp, init.port, init.host)
  let wsPort: number
  try {
    wsPort = await listen(http, init.wsPort, init.host)
  } catch (err) {
    await new Promise(resolve => tcp.close(resolve))
    throw err
  }

  return {
    port,
    wsPort,
    addressOf: conn => typeof conn === 'object' && conn !== null ? addresses.get(conn) : undefined,
    async close () {
      for (const client of wss.clients) client.terminate()
      for (const conn of open) conn.destroy()
      await new Promise(resolve => wss.close(resolve))
      await Promise.all([
        new Promise(resolve => tcp.close(resolve)),
        new Promise(resolve => { http.closeAllConnections(); http.close(resolve) })
      ])
    }
  }
}
