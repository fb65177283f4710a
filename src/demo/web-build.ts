/**
 * `npm start`'s build of the web application: web/dist is built again when it is missing or
 * older than any file the last build read (its module list, web/dist/.sources.json: web/src and
 * whatever of src/ it imports, core, client, pki, the parts' errors.ts...) or than the build's
 * own inputs; without that list, than anything under web/src and src/.
 */
import { spawn } from 'node:child_process'
import { readFile, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from './network.ts'
import { BUILD_INPUTS, FALLBACK_SOURCES, SOURCES_FILE } from './web-sources.ts'

export const WEB_DIST = join(ROOT, 'web/dist')

/** Newest modification time under `path` (0 when it does not exist). */
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

/** The last build's module list, or undefined when it wrote none (or it does not parse). */
async function builtSources (dist: string): Promise<string[] | undefined> {
  try {
    const list = JSON.parse(await readFile(join(dist, SOURCES_FILE), 'utf8')) as unknown
    return Array.isArray(list) && list.length > 0 && list.every(item => typeof item === 'string') ? list as string[] : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether the build in `dist` (default web/dist) is missing or older than a source of the
 * checkout at `root` (default this one); a listed source that is gone counts as changed.
 */
export async function webBuildStale ({ root = ROOT, dist = WEB_DIST }: { root?: string, dist?: string } = {}): Promise<boolean> {
  const built = await stat(join(dist, 'index.html')).catch(() => undefined)
  if (built === undefined) return true
  const listed = await builtSources(dist)
  if (listed !== undefined) {
    for (const source of listed) {
      const info = await stat(join(root, source)).catch(() => undefined)
      if (info === undefined || info.mtimeMs > built.mtimeMs) return true
    }
  }
  const watched = [...BUILD_INPUTS, ...(listed === undefined ? FALLBACK_SOURCES : [])]
  const times = await Promise.all(watched.map(async source => await newest(join(root, source))))
  return Math.max(...times) > built.mtimeMs
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
