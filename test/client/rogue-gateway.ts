/**
 * A patched access gateway for the client tests: a real HTTP server on 127.0.0.1:0 that passes
 * every request on to a genuine access service (signatures and all), except the routes the test
 * rewrites: the latest reading of a sensor, and the CA certificate of its network.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RogueAnswers {
  /** The answer to GET /v1/sensors/:id/latest; undefined passes the request on. */
  latest?: (sensorId: string) => Record<string, unknown> | undefined
  /** The answer to GET /v1/network; undefined passes the request on. */
  network?: () => Record<string, unknown> | undefined
}

export interface RogueGateway {
  url: string
  answers: RogueAnswers
  /** Latest readings it answered itself. */
  served: number
  close: () => Promise<void>
}

async function body (request: IncomingMessage): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const chunks: Buffer[] = []
  for await (const chunk of request) chunks.push(chunk as Buffer)
  return chunks.length === 0 ? undefined : new Uint8Array(Buffer.concat(chunks))
}

export async function startRogueGateway (upstream: string): Promise<RogueGateway> {
  const rogue: RogueGateway = { url: '', answers: {}, served: 0, close: async () => {} }
  const server: Server = createServer((request, response) => {
    void (async () => {
      const path = request.url ?? '/'
      const latest = /^\/v1\/sensors\/([^/]+)\/latest$/.exec(path)
      const scripted = request.method !== 'GET'
        ? undefined
        : latest !== null
          ? rogue.answers.latest?.(decodeURIComponent(latest[1] as string))
          : path === '/v1/network' ? rogue.answers.network?.() : undefined
      if (scripted !== undefined) {
        if (latest !== null) rogue.served++
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(scripted))
        return
      }
      const headers = new Headers()
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string' && name !== 'host' && name !== 'connection' && name !== 'content-length') headers.set(name, value)
      }
      const forwarded = await fetch(upstream + path, { method: request.method, headers, body: await body(request) })
      response.writeHead(forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? 'application/json' })
      response.end(Buffer.from(await forwarded.arrayBuffer()))
    })().catch(() => { response.writeHead(502).end() })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  rogue.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  rogue.close = async () => { await new Promise<void>(resolve => server.close(() => { resolve() })) }
  return rogue
}
