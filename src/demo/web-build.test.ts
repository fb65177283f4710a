import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { webBuildStale } from './web-build.ts'
import { SOURCES_FILE, bundledSources } from './web-sources.ts'

describe('npm start\'s rebuild check of the web application', () => {
  let root: string
  const dist = (): string => join(root, 'web/dist')
  const BUILT = new Date('2030-01-01T00:00:00Z')
  const OLDER = new Date('2029-01-01T00:00:00Z')
  const NEWER = new Date('2031-01-01T00:00:00Z')

  async function file (rel: string, time = OLDER): Promise<void> {
    await mkdir(dirname(join(root, rel)), { recursive: true })
    await writeFile(join(root, rel), rel)
    await utimes(join(root, rel), time, time)
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'gm-web-build-'))
    for (const rel of ['web/src/app.tsx', 'web/index.html', 'web/vite.config.ts', 'package.json', 'package-lock.json', 'src/core/index.ts', 'src/client/index.ts', 'src/pki/verify.ts', 'src/gateway/errors.ts', 'src/gateway/index.ts']) await file(rel)
  })
  after(async () => { await rm(root, { recursive: true, force: true }) })

  /** A build of `listed` (undefined: a build that wrote no module list), done at BUILT. */
  async function build (listed: string[] | undefined): Promise<void> {
    await rm(dist(), { recursive: true, force: true })
    await mkdir(dist(), { recursive: true })
    if (listed !== undefined) await writeFile(join(dist(), SOURCES_FILE), JSON.stringify(listed))
    await writeFile(join(dist(), 'index.html'), '<!doctype html>')
    await utimes(join(dist(), 'index.html'), BUILT, BUILT)
  }

  it('builds when there is no build', async () => {
    await rm(dist(), { recursive: true, force: true })
    assert.equal(await webBuildStale({ root, dist: dist() }), true)
  })

  it('rebuilds when any file the last build read changed, src/pki and a part\'s errors.ts included, or is gone', async () => {
    const listed = ['web/src/app.tsx', 'src/core/index.ts', 'src/client/index.ts', 'src/pki/verify.ts', 'src/gateway/errors.ts']
    await build(listed)
    assert.equal(await webBuildStale({ root, dist: dist() }), false)
    for (const rel of ['src/pki/verify.ts', 'src/gateway/errors.ts', 'web/src/app.tsx', 'web/vite.config.ts', 'package-lock.json']) {
      await file(rel, NEWER)
      assert.equal(await webBuildStale({ root, dist: dist() }), true, rel)
      await file(rel, OLDER)
    }
    // a file the bundle does not import changes nothing
    await file('src/gateway/index.ts', NEWER)
    assert.equal(await webBuildStale({ root, dist: dist() }), false)
    await file('src/gateway/index.ts', OLDER)
    // a source that is gone (renamed, say)
    await build([...listed, 'src/core/removed.ts'])
    assert.equal(await webBuildStale({ root, dist: dist() }), true)
  })

  it('without a module list, watches web/src and all of src/', async () => {
    await build(undefined)
    assert.equal(await webBuildStale({ root, dist: dist() }), false)
    await file('src/pki/verify.ts', NEWER)
    assert.equal(await webBuildStale({ root, dist: dist() }), true)
    await file('src/pki/verify.ts', OLDER)
  })

  it('keeps the checkout\'s files of Vite\'s module ids, relative, and nothing else', () => {
    const checkout = join(tmpdir(), 'checkout')
    assert.deepEqual(bundledSources([
      join(checkout, 'web/src/main.tsx'),
      join(checkout, 'src/pki/verify.ts?used'),
      join(checkout, 'src/core/errors.ts'),
      join(checkout, 'src/core/errors.ts'),
      join(checkout, 'node_modules/preact/dist/preact.mjs'),
      join(tmpdir(), 'elsewhere/x.ts'),
      '\0vite/modulepreload-polyfill',
      'vite/preload-helper.js'
    ], checkout), ['src/core/errors.ts', 'src/pki/verify.ts', 'web/src/main.tsx'])
  })
})
