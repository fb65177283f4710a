// Bundled by Vite for the browser stream test: session.subscribe over WebSocket, exposed to Playwright.
import { createClient } from '../../src/client/index.ts'
import type { StreamReading, Subscription } from '../../src/client/index.ts'
import { fromBase64 } from '../../src/core/index.ts'

const received: Array<{ sensorId: string, seq: number, text?: string, gatewayPeerId: string }> = []
const errors: string[] = []
const states: string[] = []
let subscription: Subscription | undefined

const api = {
  subscribe: async (bundle: string, password: string, caCertificate: string, urls: string[], sensors: string[]) => {
    const client = createClient({ gateway: 'http://127.0.0.1:9', caCertificate: fromBase64(caCertificate), allowWeakKdfForTests: true })
    const session = await client.resume(fromBase64(bundle), password)
    subscription = session.subscribe(sensors, (r: StreamReading) => { received.push({ sensorId: r.sensorId, seq: r.seq, text: r.text, gatewayPeerId: r.gatewayPeerId }) }, {
      urls,
      onState: (state, info) => { states.push(`${state} ${info.url}`) },
      onError: err => { errors.push(err.code) }
    })
    return session.pseudonym
  },
  received: () => received,
  errors: () => errors,
  states: () => states,
  close: async () => { await subscription?.close() }
}

Object.assign(globalThis, { gatemesh: api })
export type BrowserStreamApi = typeof api
