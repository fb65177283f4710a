import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { OUTBOX_FILE, Outbox } from './outbox.ts'

describe('persistence outbox: WAL checkpoints ([PER-4])', () => {
  it('copies the WAL back in a thread, not in the commit, and keeps every envelope', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gm-outbox-'))
    const outbox = new Outbox(dir)
    outbox.open()
    try {
      assert.equal(outbox.checkpointsInThread, true)
      const envelope = new Uint8Array(2048).fill(7)
      // ~1 500 pages of WAL: past SQLite's automatic checkpoint, which the commit no longer runs
      let seq = 0
      for (let batch = 0; batch < 100; batch++) outbox.write(Array.from({ length: 32 }, () => ({ sensor: 's1', seq: seq++, envelope })), 1)
      // the database file grows only as the checkpointer thread copies pages back into it
      const file = join(dir, OUTBOX_FILE)
      const deadline = Date.now() + 10_000
      while (statSync(file).size < 3200 * 2048 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      assert.ok(statSync(file).size >= 3200 * 2048, `database file ${statSync(file).size} bytes: the WAL was not copied back`)
    } finally {
      outbox.close()
    }
    const again = new Outbox(dir)
    try {
      assert.equal(again.open().items.length, 3200)
    } finally {
      again.close()
    }
  })

  it('leaves checkpoints to SQLite, in the commit, with checkpointIntervalMs 0', () => {
    const outbox = new Outbox(mkdtempSync(join(tmpdir(), 'gm-outbox-')), { checkpointIntervalMs: 0 })
    outbox.open()
    try {
      assert.equal(outbox.checkpointsInThread, false)
    } finally {
      outbox.close()
    }
  })
})
