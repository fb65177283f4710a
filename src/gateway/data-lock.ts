/**
 * One gateway per data directory: `<data>/gateway.lock` holds the running gateway's process id
 * from before it reads its identity until it has stopped. A second start on the same directory
 * is `GM_ERR_GATEWAY_DATA_IN_USE` before it renews a certificate or opens a store. A lock left by
 * a process that is gone (killed, crashed) is taken over.
 */
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { GatemeshError } from '../core/index.ts'

export const LOCK_FILE = 'gateway.lock'

/** Directories locked by this process (several gateways may run in one process, in tests). */
const held = new Set<string>()

export interface DataLock {
  release: () => Promise<void>
}

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists, run by another user
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function holderOf (path: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim())
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

function inUse (dir: string, pid: number | undefined): GatemeshError {
  const by = pid === undefined ? 'another gateway' : `process ${pid}`
  return new GatemeshError('GM_ERR_GATEWAY_DATA_IN_USE', `${dir} is used by ${by}: stop it, or give this gateway its own --data.`)
}

export async function lockDataDir (dataDir: string): Promise<DataLock> {
  const dir = resolve(dataDir)
  if (held.has(dir)) throw inUse(dataDir, process.pid)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const path = join(dir, LOCK_FILE)
  // written whole under a unique name, then linked into place: link() fails if the lock exists,
  // and the lock file is never seen half written
  const temp = join(dir, `${LOCK_FILE}.${process.pid}.${Math.random().toString(36).slice(2)}`)
  await writeFile(temp, `${process.pid}\n`, { mode: 0o600 })
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await link(temp, path)
        held.add(dir)
        return {
          release: async () => {
            held.delete(dir)
            await rm(path, { force: true })
          }
        }
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const pid = await holderOf(path)
      // our own pid, not in `held`: left by an earlier run that had the same pid (a container's 1)
      if (pid !== undefined && pid !== process.pid && alive(pid)) throw inUse(dataDir, pid)
      await rm(path, { force: true })
    }
    throw inUse(dataDir, await holderOf(path))
  } finally {
    await rm(temp, { force: true })
  }
}
