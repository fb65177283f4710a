/**
 * Starts a real InfluxDB 1.x server (Debian's `influxd`) for a test or a benchmark: its own temp
 * dir (meta, data, wal), a config that binds HTTP and the RPC port to 127.0.0.1 port 0 (the HTTP
 * port it got is read from its "Listening on HTTP" log line), reporting and every other listener
 * off. Resolves once /ping answers 204. `stop()` kills it and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface Influxd {
  /** http://127.0.0.1:<port> */
  url: string
  /** The temp dir holding meta/, data/ and wal/. */
  dataDir: string
  /** The server's stderr so far (its logs), for diagnosing a failed test. */
  logs: () => string
  stop: () => Promise<void>
}

export interface InfluxdOptions {
  /** The server binary (default: INFLUXD env or /usr/bin/influxd). */
  binary?: string
  /** How long to wait for the server to answer /ping, ms (default 30 000). */
  readyTimeout?: number
}

function config (dir: string): string {
  return `reporting-disabled = true
bind-address = "127.0.0.1:0"
[meta]
  dir = "${join(dir, 'meta')}"
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
  wal-fsync-delay = "0s"
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:0"
  log-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
`
}

async function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise<void>(resolve => child.once('exit', () => { resolve() }))
}

export async function startInfluxd (options: InfluxdOptions = {}): Promise<Influxd> {
  const binary = options.binary ?? process.env.INFLUXD ?? '/usr/bin/influxd'
  const readyTimeout = options.readyTimeout ?? 30_000
  const dir = mkdtempSync(join(tmpdir(), 'gm-influxd-'))
  const configPath = join(dir, 'influxdb.conf')
  writeFileSync(configPath, config(dir))
  const child = spawn(binary, ['run', '-config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited(child)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`influxd did not listen within ${readyTimeout} ms:\n${stderr}`)) }, readyTimeout)
      child.once('error', err => { clearTimeout(timer); reject(err) })
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`influxd exited (${code}) before listening:\n${stderr}`)) })
      child.stderr!.setEncoding('utf8')
      child.stderr!.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-65_536)
        const match = /msg="Listening on HTTP".* addr=(127\.0\.0\.1:\d+)/.exec(stderr)
        if (match !== null) { clearTimeout(timer); resolve(`http://${match[1]}`) }
      })
    })
    // listening is not serving: poll /ping, bounded by the same deadline
    const deadline = Date.now() + readyTimeout
    for (;;) {
      const status = await fetch(`${url}/ping`).then(r => r.status, () => 0)
      if (status === 204) break
      if (Date.now() > deadline) throw new Error(`influxd at ${url} did not answer /ping within ${readyTimeout} ms`)
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    return { url, dataDir: dir, logs: () => stderr, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
