/** The project's non-test TypeScript sources under a folder, for tests that check the source tree. */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

export function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sources(path)
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : []
  })
}
