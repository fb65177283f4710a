import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isGatemeshError } from '../core/index.ts'
import { LOCK_FILE, lockDataDir } from './data-lock.ts'

/** The pid of a process that has exited. */
function deadPid (): number {
  const done = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])
  return Number(done.stdout.toString())
}

describe('gateway data directory lock', () => {
  it('one holder at a time; released, it can be taken again', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'gm-lock-')), 'gw')
    const lock = await lockDataDir(dir)
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`)
    await assert.rejects(lockDataDir(dir), err => isGatemeshError(err, 'GM_ERR_GATEWAY_DATA_IN_USE') && err.message.includes(dir))
    await lock.release()
    assert.equal(existsSync(join(dir, LOCK_FILE)), false)
    const again = await lockDataDir(dir)
    await again.release()
    assert.deepEqual(readdirSync(dir), [], 'no temporary file is left behind')
  })

  it('refuses a lock held by another live process, naming it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-lock-'))
    // this test runner's parent is alive for as long as this test runs
    writeFileSync(join(dir, LOCK_FILE), `${process.ppid}\n`)
    await assert.rejects(lockDataDir(dir), err => isGatemeshError(err, 'GM_ERR_GATEWAY_DATA_IN_USE') && err.message.includes(`process ${process.ppid}`))
    assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.ppid}\n`, 'the holder\'s lock is left alone')
  })

  it('takes over a lock left by a process that is gone, or by an earlier run with our own pid', async () => {
    for (const stale of [String(deadPid()), String(process.pid), 'garbage']) {
      const dir = mkdtempSync(join(tmpdir(), 'gm-lock-'))
      writeFileSync(join(dir, LOCK_FILE), `${stale}\n`)
      const lock = await lockDataDir(dir)
      assert.equal(readFileSync(join(dir, LOCK_FILE), 'utf8'), `${process.pid}\n`, stale)
      await lock.release()
    }
  })
})
