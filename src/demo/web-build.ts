/**
 * `npm start`'s build of the web application: web/dist is built again when it is missing or
 * older than any of its sources (web/ itself and the src/core and src/client it bundles).
 */
import { spawn } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from './network.ts'

export const WEB_DIST = join(ROOT, 'web/dist')
const SOURCES = ['web/src', 'web/index.html', 'web/vite.config.ts', 'src/core', 'src/client', 'package-lock.json']

async function newest (path: string): Promise<number> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) return 0
  if (!info.isDirectory()) return info.mtimeMs
  let latest = info.mtimeMs
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, (await stat(join(entry.parentPath, entry.name))).mtimeMs)
  }
  return latest
}

/** Whether web/dist is missing or older than a source. */
export async function webBuildStale (): Promise<boolean> {
  const built = await stat(join(WEB_DIST, 'index.html')).catch(() => undefined)
  if (built === undefined) return true
  const sources = await Promise.all(SOURCES.map(async source => await newest(join(ROOT, source))))
  return Math.max(...sources) > built.mtimeMs
}

/** Runs `vite build` as `npm run build:web` does; rejects with its output when it fails. */
export async function buildWeb (): Promise<void> {
  const vite = join(ROOT, 'node_modules/vite/bin/vite.js')
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [vite, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'error'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    child.once('error', reject)
    child.once('close', code => {
      if (code === 0) resolve()
      else reject(new Error(`the web application's build failed (exit ${code}):\n${output}`))
    })
  })
}
