import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createLogger } from '../../platform/logger.ts'
import type { Recipient, SensorInfo } from '../../core/index.ts'
import type { CollectedReading, JournalHandle } from './journal.ts'
import { RevalidatedSealing } from './revalidated-sealing.ts'
import type { SealingDispatch } from './sealing.ts'

const base = createLogger('test', { level: 'silent' })

/** A sealing dispatch that records what it is asked: a fake, for this unit only. */
function recordingDispatch (): { dispatch: SealingDispatch, sealed: Array<{ seq: number, to: readonly Recipient[] }>, reserved: () => number } {
  const sealed: Array<{ seq: number, to: readonly Recipient[] }> = []
  let reserved = 0
  const dispatch = {
    seal: (_id: JournalHandle, reading: CollectedReading, to: readonly Recipient[]) => { sealed.push({ seq: reading.seq, to }) },
    unreserve: (n: number) => { reserved -= n },
    reserveRecovered: () => { reserved++ },
    recipients: (info: SensorInfo) => [{ pseudonym: info.owner.pseudonym }] as unknown as readonly Recipient[]
  }
  return { dispatch: dispatch as unknown as SealingDispatch, sealed, reserved: () => reserved }
}

const info = { sensorId: 's', owner: { pseudonym: 'owner' }, readers: [], seq: 2 } as unknown as SensorInfo
const reading = (seq: number): CollectedReading => ({ sensorId: 's', ts: seq, seq, plaintext: new Uint8Array([seq]) })
const handle = (index: number): JournalHandle => ({ group: 1, index })

describe('revalidated sealing', () => {
  it('keeps the readings of a sensor whose refresh finds no record and seals them, in order, once it is found [COL-11] [COL-13]', async () => {
    const { dispatch, sealed, reserved } = recordingDispatch()
    const answers: Array<SensorInfo | undefined> = [undefined, info]
    const asked: string[] = []
    const warnings: Array<Record<string, unknown>> = []
    let found!: () => void
    const sealedBoth = new Promise<void>(resolve => { found = resolve })
    const ordered = new RevalidatedSealing({
      sealing: { ...dispatch, seal: (id, r, to) => { dispatch.seal(id, r, to); if (sealed.length === 2) found() } } as SealingDispatch,
      lookup: async id => { asked.push(id); return answers.shift() },
      logger: Object.assign(Object.create(base) as typeof base, { warn: (fields: Record<string, unknown>) => { warnings.push(fields) } })
    }, { retryMs: 5 })
    // each reading counted pending by its caller, as the ingest reserves it
    ordered.seal(handle(0), reading(1), undefined)
    ordered.seal(handle(1), reading(2), undefined)
    await sealedBoth
    assert.deepEqual(asked, ['s', 's'], 'looked up again after retryMs')
    assert.deepEqual(sealed.map(s => s.seq), [1, 2], 'both sealed, in the order accepted')
    assert.deepEqual(sealed[0]?.to, [{ pseudonym: 'owner' }], 'for the record found')
    assert.equal(warnings[0]?.code, 'GM_ERR_SENSOR_UNKNOWN')
    assert.equal(warnings[0]?.readings, 2)
    // uncounted while they waited (−2), counted again as recovered ones when sealed (+2)
    assert.equal(reserved(), 0)
    ordered.stop()
  })
})
