/**
 * What `npm start`'s rebuild check watches: every file of the checkout the last `vite build` of
 * web/ read (Vite's own module list, written by the build as web/dist/.sources.json), plus the
 * build's own inputs. Without that list (a build older than it), the directories the bundle
 * draws from. No heavy import here: web/vite.config.ts loads this file too.
 */
import { isAbsolute, relative, sep } from 'node:path'

/** Where the build writes its module list, relative to web/dist (not served: outside assets/). */
export const SOURCES_FILE = '.sources.json'

/** Always watched: what configures the build, whatever it bundles. */
export const BUILD_INPUTS = ['web/index.html', 'web/vite.config.ts', 'package.json', 'package-lock.json']

/** Without a module list: the directories the web bundle imports from (web/src, and src/ whole: core, client, pki and the parts' errors.ts). */
export const FALLBACK_SOURCES = ['web/src', 'src']

/**
 * The checkout's files among a build's module ids (Rollup's `getModuleIds()`), relative to `root`
 * with `/` separators, sorted: no virtual module (`\0...`, `vite/...`), nothing under
 * node_modules (the lockfile stands for those), nothing outside the checkout; a query is dropped.
 */
export function bundledSources (moduleIds: Iterable<string>, root: string): string[] {
  const found = new Set<string>()
  for (const id of moduleIds) {
    const path = id.replace(/[?#].*$/, '')
    if (path.startsWith('\0') || !isAbsolute(path)) continue
    const rel = relative(root, path)
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) continue
    const parts = rel.split(sep)
    if (parts.includes('node_modules')) continue
    found.add(parts.join('/'))
  }
  return [...found].sort()
}
