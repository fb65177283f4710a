/**
 * `gatemesh gateway start ...`: runs a gateway until SIGINT/SIGTERM. On stdout it prints one JSON
 * line per lifecycle event: {"event":"ready","peerId":...,"addrs":[...],"admin":...,"peers":n,
 * "collector":{"http":...,"mqtt":...}|null,"access":...|null,"stream":{"mqtt":...,"ws":...}|null} once joined, {"event":"stopped"} on a clean stop. Logs go to stderr.
 * Exit status: 0 after a clean stop, 2 on bad configuration, 1 on other failures.
 */
import { isGatemeshError } from '../core/index.ts'
import { parseGatewayConfig, startGateway, waitForPeers, USAGE } from '../gateway/index.ts'
import type { GatewayConfig } from '../gateway/index.ts'

const CONFIG_CODES = new Set(['GM_ERR_GATEWAY_CONFIG', 'GM_ERR_GATEWAY_TOKEN_REQUIRED', 'GM_ERR_OVERLAY_CONFIG'])

function line (value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

export async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || rest.includes('--help')) {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  if (command !== 'start') {
    process.stderr.write(`gatemesh gateway: unknown command '${command}' (GM_ERR_CLI_USAGE)\n\n${USAGE}`)
    return 2
  }
  let config: GatewayConfig
  try {
    config = parseGatewayConfig(rest)
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    process.stderr.write(`gatemesh gateway: ${err.message} (${err.code})\n`)
    return 2
  }

  let gateway
  try {
    gateway = await startGateway(config)
  } catch (err) {
    if (!isGatemeshError(err)) throw err
    process.stderr.write(`gatemesh gateway: ${err.message} (${err.code})\n`)
    return CONFIG_CODES.has(err.code) ? 2 : 1
  }

  const stopped = Promise.withResolvers<void>()
  let stopping = false
  const onSignal = (): void => {
    if (stopping) return
    stopping = true
    void gateway.stop().finally(() => { stopped.resolve() })
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const peers = config.bootstrap.length === 0 ? 0 : await waitForPeers(gateway.overlay, 20_000)
  if (!stopping) {
    line({ event: 'ready', peerId: gateway.overlay.peerId, addrs: gateway.overlay.addresses(), admin: gateway.admin?.url ?? null, peers, collector: gateway.collector ?? null, access: gateway.access ?? null, stream: gateway.stream ?? null })
  }
  await stopped.promise
  process.off('SIGINT', onSignal)
  process.off('SIGTERM', onSignal)
  line({ event: 'stopped' })
  return 0
}
