import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isGatemeshError } from '../../core/index.ts'
import { Journal } from './journal.ts'

const reading = (seq: number): { sensorId: string, ts: number, seq: number, envelope: Uint8Array } => ({ sensorId: 's', ts: 1, seq, envelope: new Uint8Array([seq]) })

describe('journal', () => {
  it('commits appends in groups, prunes what was handed off, and returns what was not on reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-journal-'))
    try {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, maxRows: 2 })
      assert.deepEqual(journal.open(), [])
      const ids = await Promise.all([1, 2, 3, 4, 5].map(async seq => await journal.append(reading(seq))))
      assert.deepEqual(ids, [1, 2, 3, 4, 5])
      journal.handOff(3)
      await journal.append(reading(6))
      journal.close()
      await assert.rejects(journal.append(reading(7)), err => isGatemeshError(err, 'GM_ERR_COLLECTOR_STOPPED'))
      const again = new Journal({ path, intervalMs: 1, sync: 'full' })
      const left = again.open()
      assert.deepEqual(left.map(r => r.seq), [4, 5, 6])
      assert.deepEqual(left[0]?.envelope, new Uint8Array([4]))
      again.handOff(6)
      again.close()
      const third = new Journal({ path })
      assert.deepEqual(third.open(), [])
      third.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('never reuses an id: after a clean stop with everything handed off, nothing is handed off again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-journal-'))
    try {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path })
      journal.open()
      const seen = new Set<number>()
      for (let i = 0; i < 500; i++) {
        const ids = await Promise.all([0, 1, 2].map(async k => await journal.append(reading(i * 3 + k))))
        for (const id of ids) {
          assert.ok(!seen.has(id), `id ${id} was handed out twice`)
          seen.add(id)
        }
        journal.handOff(ids[2] as number)
      }
      journal.close()
      const again = new Journal({ path })
      assert.deepEqual(again.open(), [], 'rows survived a clean stop after being handed off')
      again.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('migrates a journal made with reusable ids, keeping its rows in order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-journal-'))
    try {
      const path = join(dir, 'j.db')
      const old = new DatabaseSync(path)
      old.exec('CREATE TABLE readings (id INTEGER PRIMARY KEY, sensor TEXT NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL)')
      for (const seq of [7, 8]) old.prepare('INSERT INTO readings (sensor, ts, seq, envelope) VALUES (?, ?, ?, ?)').run('s', 1, seq, new Uint8Array([seq]))
      old.close()
      const journal = new Journal({ path })
      assert.deepEqual(journal.open().map(r => r.seq), [7, 8])
      journal.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('keeps the WAL bounded while checkpoints run in their thread', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gm-journal-'))
    try {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, checkpointIntervalMs: 5 })
      journal.open()
      const envelope = new Uint8Array(500)
      // small commits, as under a light load: each writes two or three 4 KiB frames, ~45 MB in all
      for (let i = 0; i < 6000; i++) {
        const ids = await Promise.all([0, 1, 2].map(async k => await journal.append({ sensorId: 's', ts: 1, seq: i * 3 + k, envelope })))
        journal.handOff(ids[2] as number)
        if (i % 100 === 0) await new Promise(resolve => setTimeout(resolve, 2))
      }
      assert.ok(statSync(`${path}-wal`).size < 24 * 1024 * 1024, `WAL of ${statSync(`${path}-wal`).size} bytes`)
      journal.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
