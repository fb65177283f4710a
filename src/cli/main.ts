/**
 * The gatemesh command line: `gatemesh <command> ...`. This file only dispatches; each command
 * group lives in its own module and is loaded on demand so that `gatemesh ca` never loads libp2p.
 */
import { isGatemeshError } from '../core/index.ts'

type CommandGroup = (argv: string[]) => Promise<number>

const GROUPS: Record<string, { summary: string, load: () => Promise<CommandGroup> }> = {
  ca: { summary: 'run the certificate authority (init, token, serve, revoke, list)', load: async () => (await import('./ca.ts')).main },
  gateway: { summary: 'run a gateway (start)', load: async () => (await import('./gateway.ts')).main },
  signup: { summary: 'create an account at a gateway (keys made and sealed here)', load: async () => (await import('./user.ts')).signupMain },
  login: { summary: 'log in at a gateway (the sealed keys are opened here)', load: async () => (await import('./user.ts')).loginMain },
  sensor: { summary: 'your sensors (add, share, revoke, set-retention, show, list)', load: async () => (await import('./user.ts')).sensorMain },
  read: { summary: 'read a sensor (latest, history), decrypted here', load: async () => (await import('./user.ts')).readMain },
  token: { summary: 'print a stream token (the MQTT password of your user at a stream peer)', load: async () => (await import('./stream.ts')).tokenMain },
  watch: { summary: 'live readings from stream peers, decrypted here, until Ctrl-C', load: async () => (await import('./stream.ts')).watchMain },
  sim: { summary: 'simulated MQTT and HTTP sensors, and their response times', load: async () => (await import('./sim.ts')).main }
}

export function usage (): string {
  const lines = Object.entries(GROUPS).map(([name, group]) => `  ${name.padEnd(10)} ${group.summary}`)
  return `usage: gatemesh <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n'gatemesh <command> --help' tells more.\n`
}

export async function run (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name === undefined ? 2 : 0
  }
  const group = GROUPS[name]
  if (group === undefined) {
    process.stderr.write(`gatemesh: unknown command '${name}' (GM_ERR_CLI_USAGE)\n\n${usage()}`)
    return 2
  }
  try {
    return await (await group.load())(rest)
  } catch (err) {
    if (isGatemeshError(err)) {
      process.stderr.write(`gatemesh ${name}: ${err.message} (${err.code})\n`)
      return 1
    }
    throw err
  }
}

if (import.meta.main) {
  // a reader that stops early (`gatemesh read history ... | head`) ends the command quietly, as
  // it ends other command-line tools, not with a stack trace of the write that failed
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit(process.exitCode ?? 0)
  })
  process.exitCode = await run(process.argv.slice(2))
}
