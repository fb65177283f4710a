// Bundled by Vite for the browser test: the client library (WebCrypto, fetch) exposed to Playwright.
import { createClient } from '../../src/client/index.ts'
import type { Session } from '../../src/client/index.ts'
import { isGatemeshError } from '../../src/core/index.ts'

const TEST_KDF = { kdfIterations: 1000, allowWeakKdfForTests: true }
let session: Session | undefined

async function codeOf (work: () => Promise<unknown>): Promise<string> {
  try {
    await work()
    return 'ok'
  } catch (err) {
    return isGatemeshError(err) ? err.code : String(err)
  }
}

const api = {
  signupAndLogin: async (gateway: string, other: string) => {
    const signedUp = await createClient({ gateway, ...TEST_KDF }).signup('browser password')
    session = await createClient({ gateway: other, ...TEST_KDF }).login(signedUp.pseudonym, 'browser password')
    return session.pseudonym
  },
  addSensor: async (id: string) => (await (session as Session).addSensor(id)).credential,
  share: async (id: string, pseudonym: string) => await (session as Session).share(id, pseudonym),
  readLatest: async (id: string) => (await (session as Session).readLatest(id)).text,
  list: async () => await (session as Session).listSensors(),
  errorOf: async (id: string) => await codeOf(async () => await (session as Session).readLatest(id))
}

Object.assign(globalThis, { gatemesh: api })
export type BrowserApi = typeof api
