/**
 * The launcher of a local gatemesh network: a CA (`ca init` the first time, then `ca serve`) and
 * gateways as child processes of `gatemesh gateway start`, all on 127.0.0.1, data under one
 * directory. Every child's standard output and error go to `<dir>/logs/<name>.log`. Used by
 * `npm start` (src/demo/start.ts) and the end-to-end tests.
 */
import { spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import type { Role } from '../overlay/index.ts'
import { v8PoolArgs } from '../platform/v8-pool.ts'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const MAIN = join(ROOT, 'src/cli/main.ts')

export interface GatewaySpec {
  name: string
  /** The services it runs (`--services`). */
  services: Role[]
  /** The roles its certificate grants (the enrollment token's); default: its services. */
  roles?: Role[]
  /** Extra `gateway start` arguments for this gateway (after the network's `gatewayArgs`). */
  args?: string[]
}

export interface Ready {
  event: 'ready'
  peerId: string
  addrs: string[]
  admin: string | null
  peers: number
  collector: { http: string, mqtt: string } | null
  access: string | null
  stream: { mqtt: string, ws: string } | null
}

export interface RunningGateway extends GatewaySpec {
  dir: string
  log: string
  child: ChildProcess
  ready: Ready
  /** SIGTERM, and SIGKILL after `timeoutMs`; resolves with the exit code. */
  stop: (timeoutMs?: number) => Promise<number | null>
  /** SIGKILL at once (a crash); resolves once the process is gone. */
  kill: () => Promise<void>
}

export interface NetworkInit {
  dir: string
  gateways: GatewaySpec[]
  /** Extra `gateway start` arguments for every gateway. */
  gatewayArgs?: string[]
  /** Environment of every child (added to the launcher's). */
  env?: NodeJS.ProcessEnv
  /** Per child, how long to wait for its ready line. */
  readyTimeoutMs?: number
}

export interface Network {
  dir: string
  caDir: string
  caUrl: string
  gateways: RunningGateway[]
  /** Whether this start created the CA (a first start). */
  created: boolean
  /** Runs `gatemesh ca <args>` against the network's CA directory, resolving with its stdout. */
  ca: (...args: string[]) => Promise<string>
  /**
   * Starts one more gateway joining the running network (through the first gateway), or starts
   * again one that was stopped or killed (same name, same data directory: no new enrollment).
   */
  start: (spec: GatewaySpec) => Promise<RunningGateway>
  /** Stops the gateways, then the CA; resolves with their exit codes (gateways first, in order). */
  stop: () => Promise<Array<number | null>>
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}

interface Child { child: ChildProcess, exited: Promise<number | null> }

function spawnLogged (args: string[], logPath: string, env: NodeJS.ProcessEnv): Child {
  const log = createWriteStream(logPath, { flags: 'a', mode: 0o600 })
  // [platform/v8-pool.ts] a gateway's V8 helpers sized to the machine, as an operator would start it
  const child = spawn(process.execPath, [...v8PoolArgs(), MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  const exited = new Promise<number | null>(resolve => {
    child.once('close', code => { log.end(() => { resolve(code) }) })
  })
  return { child, exited }
}

/** Resolves with the first stdout line `match` accepts; rejects if the child exits first or on timeout. */
async function firstLine<T> (c: Child, match: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const lines = createInterface({ input: c.child.stdout! })
    const timer = setTimeout(() => { lines.close(); reject(new Error(`${what}: not ready within ${timeoutMs} ms (see its log)`)) }, timeoutMs)
    lines.on('line', text => {
      const value = match(text)
      if (value !== undefined) { clearTimeout(timer); lines.close(); resolve(value) }
    })
    void c.exited.then(code => { clearTimeout(timer); reject(new Error(`${what}: exited with ${code} before it was ready (see its log)`)) })
  })
}

async function run (args: string[], logPath: string, env: NodeJS.ProcessEnv): Promise<string> {
  const c = spawnLogged(args, logPath, env)
  let out = ''
  c.child.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  const code = await c.exited
  if (code !== 0) throw new Error(`gatemesh ${args[0]} ${args[1]} exited with ${code} (see ${logPath})`)
  return out
}

async function stopChild (c: Child, timeoutMs: number): Promise<number | null> {
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGTERM')
  const timer = setTimeout(() => { c.child.kill('SIGKILL') }, timeoutMs)
  const code = await c.exited
  clearTimeout(timer)
  return code
}

export async function startNetwork (init: NetworkInit): Promise<Network> {
  const env = { GATEMESH_LOG_LEVEL: 'info', ...init.env }
  const readyTimeoutMs = init.readyTimeoutMs ?? 60_000
  const logs = join(init.dir, 'logs')
  await mkdir(logs, { recursive: true, mode: 0o700 })
  const caDir = join(init.dir, 'ca')
  const caLog = join(logs, 'ca.log')
  const ca = async (...args: string[]): Promise<string> => await run(['ca', ...args, '--dir', caDir], caLog, env)

  const created = !await exists(join(caDir, 'ca.crt'))
  if (created) await ca('init', '--name', 'gatemesh local network')
  // enrollment tokens for the gateways that have no certificate yet, before the CA serves
  const tokens = new Map<string, string>()
  for (const spec of init.gateways) {
    if (!await exists(join(init.dir, spec.name, 'certificate.der'))) {
      tokens.set(spec.name, (await ca('token', '--roles', (spec.roles ?? spec.services).join(','))).trim())
    }
  }

  const children: Child[] = []
  const gateways: RunningGateway[] = []
  const stop = async (): Promise<Array<number | null>> => {
    // gateways first, all at once, then the CA
    const codes = await Promise.all(children.slice(1).map(async c => await stopChild(c, 15_000)))
    if (children[0] !== undefined) codes.push(await stopChild(children[0], 5000))
    return codes
  }
  try {
    const caChild = spawnLogged(['ca', 'serve', '--dir', caDir, '--host', '127.0.0.1', '--port', '0'], caLog, env)
    children.push(caChild)
    const caUrl = await firstLine(caChild, line => /^listening on (http:\/\/\S+)/.exec(line)?.[1], readyTimeoutMs, 'ca serve')

    const startOne = async (spec: GatewaySpec, bootstrap: string | undefined): Promise<RunningGateway> => {
      const dir = join(init.dir, spec.name)
      const log = join(logs, `${spec.name}.log`)
      const args = ['gateway', 'start', '--data', dir, '--ca', caUrl, '--services', spec.services.join(','),
        '--listen', '/ip4/127.0.0.1/tcp/0', '--host', '127.0.0.1', ...(init.gatewayArgs ?? []), ...(spec.args ?? [])]
      const token = tokens.get(spec.name)
      if (token !== undefined) args.push('--token', token)
      tokens.delete(spec.name)
      if (bootstrap !== undefined) args.push('--bootstrap', bootstrap)
      const c = spawnLogged(args, log, env)
      children.push(c)
      const ready = await firstLine(c, line => {
        try {
          const value = JSON.parse(line) as { event?: string }
          return value.event === 'ready' ? value as Ready : undefined
        } catch {
          return undefined
        }
      }, readyTimeoutMs, `gateway ${spec.name}`)
      return {
        ...spec,
        dir,
        log,
        child: c.child,
        ready,
        stop: async (timeoutMs = 15_000) => await stopChild(c, timeoutMs),
        kill: async () => { c.child.kill('SIGKILL'); await c.exited }
      }
    }

    const [first, ...rest] = init.gateways
    if (first !== undefined) {
      const seed = await startOne(first, undefined)
      gateways.push(seed)
      const bootstrap = seed.ready.addrs[0]
      gateways.push(...await Promise.all(rest.map(async spec => await startOne(spec, bootstrap))))
    }
    const start = async (spec: GatewaySpec): Promise<RunningGateway> => {
      if (!await exists(join(init.dir, spec.name, 'certificate.der'))) {
        tokens.set(spec.name, (await ca('token', '--roles', (spec.roles ?? spec.services).join(','))).trim())
      }
      const through = gateways.find(g => g.name !== spec.name && g.child.exitCode === null && g.child.signalCode === null)
      const running = await startOne(spec, through?.ready.addrs[0])
      const at = gateways.findIndex(g => g.name === spec.name)
      if (at >= 0) gateways[at] = running
      else gateways.push(running)
      return running
    }
    return { dir: init.dir, caDir, caUrl, gateways, created, ca, start, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
