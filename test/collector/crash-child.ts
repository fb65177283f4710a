// Child process of the crash test (lifecycle.test.ts): a collector with one sensor, `crash`, whose
// credential comes in GM_TEST_CREDENTIAL; it prints its HTTP port ("port <n>"), then "handed <seq>"
// for every reading its sink holds. In `load` the sink holds a batch 20 ms after it is given it,
// as the latest publisher's put completes after its coalescing interval, and runs until killed;
// `recover` holds at once and stops once the journal holds no reading any more.
import { join } from 'node:path'
import { createSensorRecord, identityFromSecrets, sensorVerifier, verifySensorRecord } from '../../src/core/index.ts'
import { createNodeCryptoSuite } from '../../src/platform/node-crypto.ts'
import { createLogger } from '../../src/platform/logger.ts'
import { createCollector } from '../../src/gateway/collector/index.ts'

const [dir, phase] = process.argv.slice(2) as [string, 'load' | 'recover']
const suite = createNodeCryptoSuite()
// fixed secrets: both phases are the same gateway and the same sensor
const seed = new Uint8Array(32).fill(7)
const owner = await identityFromSecrets(suite, new Uint8Array(32).fill(1), new Uint8Array(32).fill(2))
const verifier = await sensorVerifier(suite, process.env.GM_TEST_CREDENTIAL as string)
const info = await verifySensorRecord(suite, await createSensorRecord(suite, owner, { sensorId: 'crash', verifier, seq: 1 }))
// stdout is a pipe, written synchronously on Linux: a line is out before the row is released
const collector = createCollector({
  suite,
  signingSeed: seed,
  sensors: { get: async id => id === 'crash' ? info : undefined },
  sinks: [{
    name: 'record',
    deliver: async readings => {
      if (phase === 'load') await new Promise(resolve => setTimeout(resolve, 20))
      for (const r of readings) process.stdout.write(`handed ${r.seq}\n`)
    }
  }],
  logger: createLogger('crash-child', { level: 'silent' })
}, { dataDir: join(dir, 'data'), http: { port: 0 }, rateLimit: { perSecond: 1e9, burst: 1e9 }, maxPending: 1e6 })
await collector.start()
process.stdout.write(`port ${collector.httpPort}\n`)
if (phase === 'recover') {
  // recovery runs in the background from start: it is over when every journaled reading has been
  // handed to the sink and released (the journal holds none), whatever pauses it had meanwhile
  while (collector.journalDepth() > 0) await new Promise(resolve => setTimeout(resolve, 5))
  await collector.stop()
  process.exit(0)
}
