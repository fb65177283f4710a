import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { statSync } from 'node:fs'
import { DatabaseSync } from 'node:sqlite'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { isGatemeshError } from '../../core/index.ts'
import { Journal, journalKey, type CollectedReading, type JournalHandle } from './journal.ts'
import { decodeGroup, encodeGroup } from './journal-group.ts'

const secret = new Uint8Array(randomBytes(32))
const reading = (seq: number, text = `{"n":${seq}}`): CollectedReading => ({ sensorId: 's', ts: 1, seq, plaintext: new TextEncoder().encode(text) })
const text = (r: CollectedReading): string => new TextDecoder().decode(r.plaintext)

async function inDir (fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'gm-journal-'))
  try { await fn(dir) } finally { await rm(dir, { recursive: true, force: true }) }
}

const handle = (group: number, index: number): JournalHandle => ({ group, index })

/** The rows of table `groups`, read from the file on a connection of its own: [id, count] each. */
function groupRows (path: string): Array<[number, number]> {
  const db = new DatabaseSync(path)
  try {
    return db.prepare('SELECT id, count FROM groups ORDER BY id').all().map(r => [Number(r.id), Number(r.count)])
  } finally {
    db.close()
  }
}

/** A tick of the event loop after which a transaction scheduled now has committed. */
const turn = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

async function everyByte (dir: string): Promise<Buffer> {
  const files = await readdir(dir)
  return Buffer.concat(await Promise.all(files.map(async f => await readFile(join(dir, f)))))
}

describe('journal', () => {
  it('commits appends in groups, deletes released groups, and returns the others decrypted on reopen', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret, maxRows: 2 })
      assert.deepEqual(journal.open(), { collected: [], unreadable: 0 })
      const handles = await Promise.all([1, 2, 3, 4, 5].map(async seq => await journal.append(reading(seq))))
      assert.deepEqual(handles, [handle(1, 0), handle(1, 1), handle(2, 0), handle(2, 1), handle(3, 0)])
      // released out of order, as sealing threads finish: groups 1 and 3 are then wholly released
      assert.equal(journal.depth(), 5)
      for (const i of [1, 0, 4]) journal.release(handles[i] as JournalHandle)
      journal.release(handles[1] as JournalHandle)
      assert.equal(journal.depth(), 2, 'released readings leave the depth once, whatever the order')
      const sixth = journal.append(reading(6))
      assert.equal(journal.depth(), 3, 'a reading waiting for its commit counts')
      await sixth
      assert.equal(journal.depth(), 3)
      await journal.close()
      assert.deepEqual(groupRows(path), [[2, 2], [4, 1]])
      await assert.rejects(journal.append(reading(7)), err => isGatemeshError(err, 'GM_ERR_COLLECTOR_STOPPED'))
      const again = new Journal({ path, secret, intervalMs: 1, sync: 'full' })
      const left = again.open()
      assert.deepEqual(left.collected.map(r => [r.id, r.seq, text(r)]), [[handle(2, 0), 3, '{"n":3}'], [handle(2, 1), 4, '{"n":4}'], [handle(4, 0), 6, '{"n":6}']])
      assert.equal(left.unreadable, 0)
      assert.equal(again.depth(), 3, 'what a reopen finds counts')
      for (const r of left.collected) again.release(r.id)
      await again.close()
      assert.deepEqual(groupRows(path), [])
      const third = new Journal({ path, secret })
      assert.deepEqual(third.open().collected, [])
      await third.close()
    })
  })

  it('never gives a group id twice in one open, though the row with the highest id was deleted', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret })
      journal.open()
      const first = await journal.append(reading(1))
      journal.release(first)
      await turn()
      assert.deepEqual(groupRows(path), [], 'group 1 deleted')
      const second = await journal.append(reading(2))
      assert.deepEqual(second, handle(2, 0))
      journal.release(first) // a stale handle of the deleted group names no later one
      await turn()
      assert.deepEqual(groupRows(path), [[2, 1]])
      await journal.close()
    })
  })

  it('refuses, with GM_ERR_JOURNAL, a journal file that is no database or a path it cannot open', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      await writeFile(path, Buffer.alloc(8192, 0x41))
      const journal = new Journal({ path, secret })
      assert.throws(() => journal.open(), err => isGatemeshError(err, 'GM_ERR_JOURNAL'))
      await journal.close()
      assert.throws(() => new Journal({ path: dir, secret }).open(), err => isGatemeshError(err, 'GM_ERR_JOURNAL'), 'a directory')
      await rm(path)
      const again = new Journal({ path, secret })
      assert.deepEqual(again.open().collected, [])
      await again.close()
    })
  })

  it('writes the readings of one event-loop turn as one row, of at most maxRows readings', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret })
      journal.open()
      const handles = await Promise.all(Array.from({ length: 300 }, async (_, seq) => await journal.append(reading(seq))))
      assert.deepEqual(groupRows(path), [[1, 300]], 'one row while the journal is open, committed')
      assert.deepEqual(handles, Array.from({ length: 300 }, (_, i) => handle(1, i)))
      await journal.close()
      const capped = new Journal({ path, secret, maxRows: 100 })
      capped.open()
      await Promise.all(Array.from({ length: 250 }, async (_, seq) => await capped.append(reading(1000 + seq))))
      assert.deepEqual(groupRows(path), [[1, 300], [2, 100], [3, 100], [4, 50]])
      await capped.close()
      const reopened = new Journal({ path, secret })
      const left = reopened.open()
      assert.deepEqual(left.collected.map(r => r.seq), [...Array.from({ length: 300 }, (_, i) => i), ...Array.from({ length: 250 }, (_, i) => 1000 + i)])
      assert.ok(left.collected.every(r => text(r) === `{"n":${r.seq}}` && r.sensorId === 's' && r.ts === 1))
      await reopened.close()
    })
  })

  it('deletes a group only once every one of its readings was released, in any order, each counted once', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret })
      journal.open()
      const [a, b, c] = await Promise.all([1, 2, 3].map(async seq => await journal.append(reading(seq)))) as JournalHandle[]
      journal.release(c as JournalHandle)
      journal.release(a as JournalHandle)
      // released twice, an index past the group, a group that does not exist: nothing changes
      journal.release(a as JournalHandle)
      journal.release(handle(1, 3))
      journal.release(handle(9, 0))
      await journal.append(reading(4)) // a transaction after those releases
      assert.deepEqual(groupRows(path), [[1, 3], [2, 1]])
      journal.release(b as JournalHandle)
      await turn()
      assert.deepEqual(groupRows(path), [[2, 1]], 'the last release of group 1: one DELETE, in the next transaction')
      await journal.close()
    })
  })

  it('returns a partly released group whole at reopen, with handles that release it', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret })
      journal.open()
      const handles = await Promise.all([1, 2, 3, 4].map(async seq => await journal.append(reading(seq))))
      journal.release(handles[0] as JournalHandle)
      journal.release(handles[3] as JournalHandle)
      await journal.close() // as a crash would leave it: the group's row is still there
      assert.deepEqual(groupRows(path), [[1, 4]])
      const again = new Journal({ path, secret })
      const left = again.open()
      assert.deepEqual(left.collected.map(r => [r.id, r.seq, text(r)]), [1, 2, 3, 4].map(seq => [handle(1, seq - 1), seq, `{"n":${seq}}`]))
      for (const r of left.collected.reverse()) again.release(r.id)
      await turn()
      assert.deepEqual(groupRows(path), [])
      await again.close()
      const third = new Journal({ path, secret })
      assert.deepEqual(third.open(), { collected: [], unreadable: 0 })
      await third.close()
    })
  })

  it('writes no plaintext: rows are AES-256-GCM under a key of the epoch, nonces never repeat across epochs', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const marker = `marker-${randomBytes(8).toString('hex')}`
      // three epochs of two groups of three readings each
      for (let run = 0; run < 3; run++) {
        const journal = new Journal({ path, secret })
        journal.open()
        for (let group = 0; group < 2; group++) {
          await Promise.all([0, 1, 2].map(async k => await journal.append(reading(run * 6 + group * 3 + k, `{"m":"${marker}"}`))))
        }
        await journal.close()
      }
      assert.ok(!(await everyByte(dir)).includes(marker), 'the marker is in the journal files')
      const db = new DatabaseSync(path)
      const rows = db.prepare('SELECT epoch, ctr FROM groups').all().map(r => `${String(r.epoch)}/${String(r.ctr)}`)
      db.close()
      assert.deepEqual(groupRows(path).map(([, count]) => count), [3, 3, 3, 3, 3, 3])
      assert.equal(rows.length, 6)
      assert.equal(new Set(rows).size, 6, `a (key, nonce) pair repeated: ${rows.join(' ')}`)
      assert.deepEqual([...new Set(rows.map(r => r.split('/')[0]))], ['1', '2', '3'])
      assert.notDeepEqual(journalKey(secret, 1), journalKey(secret, 2))
      const reopened = new Journal({ path, secret })
      assert.equal(reopened.open().collected.filter(r => text(r).includes(marker)).length, 18)
      await reopened.close()
    })
  })

  it('keeps rows it cannot decrypt (another key, altered bytes) and reports them', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret })
      journal.open()
      for (const seq of [1, 2, 3]) await journal.append(reading(seq)) // three groups
      await journal.close()
      const db = new DatabaseSync(path)
      // ctr is the nonce and bound as associated data: changing it breaks the row
      db.prepare('UPDATE groups SET ctr = 7 WHERE id = 2').run()
      db.close()
      const other = new Journal({ path, secret: new Uint8Array(randomBytes(32)) })
      assert.deepEqual(other.open(), { collected: [], unreadable: 3 })
      await other.close()
      const same = new Journal({ path, secret })
      const left = same.open()
      assert.deepEqual(left.collected.map(r => r.seq), [1, 3])
      assert.equal(left.unreadable, 1)
      for (const r of left.collected) same.release(r.id)
      await same.close()
      assert.deepEqual(groupRows(path), [[2, 1]], 'the unreadable row is kept')
    })
  })

  it('counts a tampered or malformed group row as unreadable, keeps it, and opens anyway', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret })
      journal.open()
      await Promise.all([1, 2, 3].map(async seq => await journal.append(reading(seq))))
      await journal.append(reading(4))
      await journal.close()
      const db = new DatabaseSync(path)
      const { sealed } = db.prepare('SELECT sealed FROM groups WHERE id = 1').get() as { sealed: Uint8Array }
      for (const at of [0, sealed.length - 1]) {
        // one flipped bit of the ciphertext, then of the tag
        const flipped = new Uint8Array(sealed)
        flipped[at] = (flipped[at] as number) ^ 1
        db.prepare('UPDATE groups SET sealed = ? WHERE id = 1').run(flipped)
        const again = new Journal({ path, secret })
        const left = again.open()
        assert.deepEqual(left.collected.map(r => [r.id, r.seq]), [[handle(2, 0), 4]])
        assert.equal(left.unreadable, 3, 'the row\'s readings, as its count says')
        await again.close()
      }
      // rows no version wrote: an epoch that is no u64, a sealed shorter than a tag, columns of the wrong types
      const insert = db.prepare('INSERT INTO groups (epoch, ctr, count, sealed) VALUES (?, ?, ?, ?)')
      insert.run(-1, 0, 2, new Uint8Array(32))
      insert.run(1, 0, 1, new Uint8Array(3))
      insert.run('x', 'y', 'z', 'not a blob')
      insert.run(1, 0, 0, new Uint8Array(16))
      db.close()
      const again = new Journal({ path, secret })
      const left = again.open()
      assert.deepEqual(left.collected.map(r => r.seq), [4])
      assert.equal(left.unreadable, 3 + 2 + 1 + 1 + 1)
      for (const r of left.collected) again.release(r.id)
      await again.close()
      assert.deepEqual(groupRows(path).map(([id]) => id), [1, 3, 4, 5, 6], 'every unreadable row is kept')
    })
  })

  it('decodes exactly what it encodes, and nothing else', () => {
    const readings = [reading(1), { sensorId: 'ü-ß', ts: 2 ** 52 + 1, seq: 2 ** 53 - 1, plaintext: new Uint8Array(0) }, reading(3, 'x'.repeat(70_000))]
    const bytes = new Uint8Array(encodeGroup(readings))
    assert.deepEqual(decodeGroup(bytes, 3), readings)
    assert.equal(decodeGroup(bytes, 2), undefined)
    assert.equal(decodeGroup(bytes, 4), undefined)
    assert.equal(decodeGroup(new Uint8Array([...bytes, 0]), 3), undefined, 'a trailing byte')
    for (let n = 0; n < bytes.length; n += n < 200 ? 1 : 997) assert.equal(decodeGroup(bytes.subarray(0, n), 3), undefined, `cut at ${n}`)
    assert.equal(decodeGroup(new Uint8Array(encodeGroup([{ ...reading(1), sensorId: 'ab' }])).fill(0xff, 2, 4), 1), undefined, 'a sensor id that is not UTF-8')
  })

  it('derives the epoch key as RFC 5869 HKDF-SHA256 does in WebCrypto (an independent implementation)', async () => {
    const info = new Uint8Array([...new TextEncoder().encode('gatemesh/journal/v1'), 0, 0, 0, 0, 0, 0, 1, 2])
    const ikm = await crypto.subtle.importKey('raw', secret, 'HKDF', false, ['deriveBits'])
    const expected = new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info }, ikm, 256))
    assert.deepEqual(new Uint8Array(journalKey(secret, 258)), expected)
  })

  it('refuses a secret that is not 32 bytes', () => {
    assert.throws(() => new Journal({ path: '/nonexistent/j.db', secret: new Uint8Array(16) }), err => isGatemeshError(err, 'GM_ERR_COLLECTOR_INTERNAL'))
  })

  it('keeps the WAL bounded while checkpoints run in their thread', async () => {
    await inDir(async dir => {
      const path = join(dir, 'j.db')
      const journal = new Journal({ path, secret, checkpointIntervalMs: 5 })
      journal.open()
      const plaintext = new Uint8Array(500)
      // small commits, as under a light load: each writes two or three 4 KiB frames, ~45 MB in all
      for (let i = 0; i < 6000; i++) {
        const handles = await Promise.all([0, 1, 2].map(async k => await journal.append({ sensorId: 's', ts: 1, seq: i * 3 + k, plaintext })))
        for (const h of handles) journal.release(h)
        if (i % 100 === 0) await new Promise(resolve => setTimeout(resolve, 2))
      }
      assert.ok(statSync(`${path}-wal`).size < 24 * 1024 * 1024, `WAL of ${statSync(`${path}-wal`).size} bytes`)
      await journal.close()
    })
  })

  it('lets a process whose last work is close() finish that close (the checkpointer thread is unref\'d)', async () => {
    await inDir(async dir => {
      // nothing but the journal keeps this child's event loop alive while close() waits for the
      // thread; if the wait does not hold the loop, Node exits with 13 (unsettled top-level await)
      const script = `
        import { Journal } from ${JSON.stringify(new URL('./journal.ts', import.meta.url).href)}
        const journal = new Journal({ path: ${JSON.stringify(join(dir, 'j.db'))}, secret: new Uint8Array(32).fill(3) })
        journal.open()
        journal.release(await journal.append({ sensorId: 's', ts: 1, seq: 1, plaintext: new Uint8Array(3) }))
        await journal.close()
        process.stdout.write('closed')
      `
      // a file, not --eval: the checkpointer thread would inherit --input-type and fail to start
      await writeFile(join(dir, 'child.mjs'), script)
      const child = spawnSync(process.execPath, [join(dir, 'child.mjs')], { encoding: 'utf8', timeout: 20_000 })
      assert.equal(child.status, 0, child.stderr)
      assert.equal(child.stdout, 'closed')
      assert.deepEqual(groupRows(join(dir, 'j.db')), [])
    })
  })
})
