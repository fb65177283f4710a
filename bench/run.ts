/**
 * `npm run bench [scenario ...] [--quick]`: runs the benchmark scenarios in one process run and
 * writes each one's JSON and markdown under bench/results/. Scenarios: crypto, dht, ingest, e2e.
 */
import { withGatewayV8Pool } from './harness.ts'

const SCENARIOS: Record<string, () => Promise<{ run: (options: { quick?: boolean }) => Promise<unknown> }>> = {
  crypto: async () => await import('./crypto.ts'),
  dht: async () => await import('./dht.ts'),
  ingest: async () => await import('./ingest.ts'),
  e2e: async () => await import('./e2e.ts')
}

await withGatewayV8Pool()
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const chosen = args.filter(a => !a.startsWith('--'))
const unknown = chosen.filter(name => !(name in SCENARIOS))
if (unknown.length > 0) {
  console.error(`unknown scenario: ${unknown.join(', ')} (known: ${Object.keys(SCENARIOS).join(', ')}) (GM_ERR_CLI_USAGE)`)
  process.exit(2)
}
for (const name of chosen.length > 0 ? chosen : Object.keys(SCENARIOS)) {
  console.log(`## scenario: ${name}`)
  await (await SCENARIOS[name]!()).run({ quick })
}
