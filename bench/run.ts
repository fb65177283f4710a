/**
 * `npm run bench [scenario ...] [--quick] [options]`: runs the benchmark scenarios in one process
 * run and writes each one's JSON and markdown under bench/results/. Scenarios: crypto, dht,
 * ingest, e2e, persistence, stream-relay, stream, paper, web. A scenario that reads options of its own (ingest: --seconds N, --step-seconds N,
 * --sustainable, --puback-at N, --seal-workers N; persistence: --runs N, --seconds N, --rate N,
 * --catchup-rate N, --catchup-minutes N; stream-relay and stream: --seconds N; paper: --minutes N, --speed N, --floor-seconds N, --keep-alive; web: --runs N, --readings N) exports `options(argv)`; the others get --quick.
 */
import { withGatewayV8Pool } from './harness.ts'

interface Scenario { run: (options: { quick?: boolean }) => Promise<unknown>, options?: (argv: string[]) => { quick?: boolean } }

const SCENARIOS: Record<string, () => Promise<Scenario>> = {
  crypto: async () => await import('./crypto.ts'),
  dht: async () => await import('./dht.ts'),
  ingest: async () => await import('./ingest.ts'),
  e2e: async () => await import('./e2e.ts'),
  persistence: async () => await import('./persistence.ts'),
  'stream-relay': async () => await import('./stream-relay.ts'),
  stream: async () => await import('./stream.ts'),
  paper: async () => await import('./paper.ts'),
  web: async () => await import('./web.ts')
}
/** The options that take a value: the value is not a scenario's name. */
const VALUED = new Set(['--seconds', '--step-seconds', '--puback-at', '--seal-workers', '--runs', '--rate', '--catchup-rate', '--catchup-minutes', '--minutes', '--speed', '--floor-seconds', '--readings'])

await withGatewayV8Pool()
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const chosen = args.filter((a, i) => !a.startsWith('--') && !VALUED.has(args[i - 1] ?? ''))
const unknown = chosen.filter(name => !(name in SCENARIOS))
if (unknown.length > 0) {
  console.error(`unknown scenario: ${unknown.join(', ')} (known: ${Object.keys(SCENARIOS).join(', ')}) (GM_ERR_CLI_USAGE)`)
  process.exit(2)
}
const scenarios = await Promise.all((chosen.length > 0 ? chosen : Object.keys(SCENARIOS)).map(async name => ({ name, scenario: await SCENARIOS[name]!() })))
// every scenario's options are read before any runs, so a bad value stops the run at once
const withOptions = scenarios.map(({ name, scenario }) => ({ name, scenario, options: scenario.options?.(args) ?? { quick } }))
for (const { name, scenario, options } of withOptions) {
  console.log(`## scenario: ${name}`)
  await scenario.run(options)
}
