/**
 * Helpers for the multi-process overlay tests: an in-test CA (from src/pki's issuing helpers),
 * seeded gateway data directories, gateway processes and their admin HTTP surface.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createCertificateAuthority, createRevocationList, issueGatewayCertificate } from '../../src/pki/index.ts'
import type { CaKeys, Role } from '../../src/pki/index.ts'
import type { ChildProcess } from 'node:child_process'
import type { PrivateKey } from '@libp2p/interface'

export const ROOT = new URL('../../', import.meta.url).pathname
export const ALL_ROLES: Role[] = ['collector', 'access', 'persistence', 'stream']

export async function tempDir (prefix = 'gm-overlay-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

export interface TestCa extends CaKeys {
  revoked: Array<{ serial: string, revokedAt: Date }>
  crlNumber: number
}

export async function createTestCa (name?: string): Promise<TestCa> {
  const ca = await createCertificateAuthority({ name })
  return { privateKey: ca.privateKey, certificate: ca.certificate, revoked: [], crlNumber: 0 }
}

export async function nextCrl (ca: TestCa): Promise<Uint8Array> {
  ca.crlNumber++
  return await createRevocationList(ca, { number: ca.crlNumber, entries: ca.revoked, nextUpdate: new Date(Date.now() + 3600_000) })
}

export interface SeededIdentity {
  dir: string
  privateKey: PrivateKey
  peerId: string
  certificate: Uint8Array
  serial: string
}

/** Writes peer.key, certificate.der and ca.der as a gateway would after enrolling. */
export async function seedGateway (dir: string, ca: TestCa, init: { roles?: Role[], validityMs?: number, now?: Date, trustAnchor?: Uint8Array } = {}): Promise<SeededIdentity> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const issued = await issueGatewayCertificate(ca, { publicKey: privateKey.publicKey.raw, peerId, roles: init.roles ?? ALL_ROLES, validityMs: init.validityMs, now: init.now })
  await writeFile(join(dir, 'peer.key'), privateKeyToProtobuf(privateKey), { mode: 0o600 })
  await writeFile(join(dir, 'certificate.der'), issued.der)
  await writeFile(join(dir, 'ca.der'), init.trustAnchor ?? ca.certificate)
  return { dir, privateKey, peerId, certificate: issued.der, serial: issued.serial }
}

export interface Ready { event: 'ready', peerId: string, addrs: string[], admin: string | null, peers: number }

export interface Proc {
  child: ChildProcess
  ready: Ready
  stderr: () => string
  /** SIGTERM and wait for exit. */
  stop: () => Promise<number | null>
  /** SIGKILL and wait for exit. */
  kill: () => Promise<void>
}

/** Spawns a node script and resolves with its first {"event":"ready"} stdout line. */
export async function spawnReady (args: string[], init: { env?: NodeJS.ProcessEnv, timeoutMs?: number, stdin?: boolean } = {}): Promise<Proc> {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, GATEMESH_LOG_LEVEL: 'warn', ...init.env }, stdio: [init.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-20_000) })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`no ready line within ${init.timeoutMs ?? 60_000} ms; stderr:\n${err}`)) }, init.timeoutMs ?? 60_000)
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', text => {
      try {
        const value = JSON.parse(text) as { event?: string }
        if (value.event === 'ready') { clearTimeout(timer); resolve(value as Ready) }
      } catch { /* not ours */ }
    })
    void exited.then(code => { clearTimeout(timer); reject(new Error(`exited with ${code} before ready; stderr:\n${err}`)) })
  })
  return {
    child,
    ready,
    stderr: () => err,
    stop: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); return await exited },
    kill: async () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); await exited }
  }
}

export interface GatewayInit {
  data: string
  bootstrap?: string[]
  ca?: string
  token?: string
  extra?: string[]
  env?: NodeJS.ProcessEnv
  /** Use the FAST intervals (default true); false keeps the gateway's defaults. */
  fast?: boolean
}

/** Fast intervals so that tests converge in seconds. */
export const FAST = ['--crl-interval', '2000', '--exchange-timeout', '3000']

export async function startGateway (init: GatewayInit): Promise<Proc> {
  const args = ['src/cli/main.ts', 'gateway', 'start', '--data', init.data, '--listen', '/ip4/127.0.0.1/tcp/0', '--admin-port', '0', ...(init.fast === false ? [] : FAST)]
  for (const b of init.bootstrap ?? []) args.push('--bootstrap', b)
  if (init.ca !== undefined) args.push('--ca', init.ca)
  if (init.token !== undefined) args.push('--token', init.token)
  args.push(...(init.extra ?? []))
  return await spawnReady(args, { env: init.env })
}

export function dialable (ready: Ready): string {
  const addr = ready.addrs.find(a => a.includes('/127.0.0.1/'))
  if (addr === undefined) throw new Error('no loopback address')
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${ready.peerId}`
}

export interface Status { peerId: string, addrs: string[], routingTable: string[], verifiedPeers: Array<{ peerId: string, roles: string[] }>, crl: number | null }

export async function status (admin: string): Promise<Status> {
  const res = await fetch(new URL('/v1/status', admin))
  return await res.json() as Status
}

export async function putRecord (admin: string, key: string, value: Uint8Array): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(new URL(`/v1/dht${key}`, admin), { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.from(value), signal: AbortSignal.timeout(60_000) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

export async function getRecord (admin: string, key: string, local = false): Promise<{ status: number, value?: Uint8Array, contacted?: number, code?: string }> {
  const res = await fetch(new URL(`/v1/dht${key}${local ? '?local=1' : ''}`, admin), { signal: AbortSignal.timeout(60_000) })
  if (res.status !== 200) return { status: res.status, code: ((await res.json()) as { code?: string }).code }
  return { status: 200, value: new Uint8Array(await res.arrayBuffer()), contacted: Number(res.headers.get('x-gatemesh-contacted')) }
}

/** Polls `check` until it returns true or the deadline passes. */
export async function eventually (check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) { last = err }
    await new Promise(resolve => setTimeout(resolve, everyMs))
  }
  throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`)
}

export async function removeAll (dirs: string[]): Promise<void> {
  await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
}

export interface Rogue extends Proc {
  command: (cmd: Record<string, unknown>) => Promise<Record<string, unknown>>
}

/** Starts test/overlay/fixtures/rogue-peer.ts (see there). */
export async function startRogue (init: { mode: 'liar' | 'uncertified', data: string, cert?: string, bootstrap: string[] }): Promise<Rogue> {
  const args = ['test/overlay/fixtures/rogue-peer.ts', '--mode', init.mode, '--data', init.data]
  if (init.cert !== undefined) args.push('--cert', init.cert)
  for (const b of init.bootstrap) args.push('--bootstrap', b)
  const proc = await spawnReady(args, { stdin: true })
  const pending = new Map<number, (value: Record<string, unknown>) => void>()
  let next = 1
  createInterface({ input: proc.child.stdout! }).on('line', text => {
    try {
      const value = JSON.parse(text) as Record<string, unknown>
      if (typeof value.id === 'number') pending.get(value.id)?.(value)
    } catch { /* ignore */ }
  })
  return {
    ...proc,
    command: async (cmd) => await new Promise(resolve => {
      const id = next++
      pending.set(id, resolve)
      proc.child.stdin!.write(JSON.stringify({ ...cmd, id }) + '\n')
    })
  }
}
