/**
 * A client process reading a range of history, as the CLI does (node:crypto suite, pages verified
 * and opened on a worker thread, [PER-53]): bench/persistence.ts starts it for the day, so the
 * figure is a client's own and not shared with the harness's heap (86 400 sealed envelopes kept
 * for the other phases). Prints { ms, readings, cpuS } as JSON: ms from the first request to the
 * last reading, CPU seconds of this process (every thread) over the same span.
 *
 *   node bench/history-read.ts --plan '{"gateway","ca","bundle","password","sensor","from","to"}'   (ca and bundle base64)
 */
import { parseArgs } from 'node:util'
import { createClient } from '../src/client/index.ts'
import { MIN_KDF_ITERATIONS, fromBase64 } from '../src/core/index.ts'
import { createWorkerPages } from '../src/platform/history-pages.ts'
import { createNodeCryptoSuite } from '../src/platform/node-crypto.ts'

interface Plan { gateway: string, ca: string, bundle: string, password: string, sensor: string, from: number, to: number }

const { values } = parseArgs({ options: { plan: { type: 'string' } } })
if (values.plan === undefined) throw new Error('--plan is required')
const plan = JSON.parse(values.plan) as Plan
const client = createClient({ gateway: plan.gateway, caCertificate: fromBase64(plan.ca), suite: createNodeCryptoSuite(), kdfIterations: MIN_KDF_ITERATIONS, historyPages: createWorkerPages })
const session = await client.resume(fromBase64(plan.bundle), plan.password)
const cpu = process.cpuUsage()
const started = performance.now()
let readings = 0
for await (const reading of session.history(plan.sensor, { from: plan.from, to: plan.to, order: 'asc' })) {
  if (reading.value === undefined) throw new Error(`reading ${reading.seq} did not open`)
  readings++
}
const ms = performance.now() - started
const used = process.cpuUsage(cpu)
console.log(JSON.stringify({ ms, readings, cpuS: (used.user + used.system) / 1e6 }))
