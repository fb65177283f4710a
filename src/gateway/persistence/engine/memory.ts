/**
 * TEST FAKE: an in-memory StorageEngine for the replication unit tests, used only by tests (the
 * gateway runs the sqlite or InfluxDB engine). Keeps the contract of ./types.ts; not durable.
 */
import { toHex } from '../../../core/index.ts'
import type { AppendResult, HistoryKey, RangeQuery, StorageEngine, StoredCertificate, StoredCheckpoint, StoredReading } from './types.ts'
import { MAX_CERTIFICATES_PER_GW, checkCertificate, compareCertificates } from './input.ts'

function compareKeys (a: HistoryKey, b: HistoryKey): number {
  if (a.seq !== b.seq) return a.seq - b.seq
  for (let i = 0; i < 32; i++) if (a.gw[i] !== b.gw[i]) return (a.gw[i] ?? 0) - (b.gw[i] ?? 0)
  return 0
}

export function createMemoryEngineForTests (): StorageEngine & { readings: () => StoredReading[] } {
  const readings = new Map<string, StoredReading>()
  const checkpoints = new Map<string, StoredCheckpoint>()
  const certs = new Map<string, StoredCertificate[]>()
  const id = (sensor: string, gw: Uint8Array, seq: number): string => `${sensor}|${toHex(gw)}|${seq}`
  const sorted = (sensor: string): StoredReading[] => [...readings.values()].filter(r => r.sensor === sensor).sort(compareKeys)
  return {
    name: 'memory (test fake)',
    async open () {},
    async close () {},
    async append (rows): Promise<AppendResult> {
      let stored = 0
      let duplicates = 0
      for (const r of rows) {
        const k = id(r.sensor, r.gw, r.seq)
        if (readings.has(k)) { duplicates++; continue }
        readings.set(k, { ...r })
        stored++
      }
      return { stored, duplicates }
    },
    async putCheckpoints (cps) {
      let n = 0
      for (const c of cps) {
        const k = `${c.sensor}|${toHex(c.gw)}|${c.bucket}|${c.part}`
        if (!checkpoints.has(k)) { checkpoints.set(k, c); n++ }
      }
      return n
    },
    async range (q: RangeQuery) {
      let rows = sorted(q.sensor).filter(r => r.seq >= q.fromSeq && r.seq < q.toSeq)
      if (q.order === 'desc') rows.reverse()
      if (q.after !== undefined) {
        const after = q.after
        rows = rows.filter(r => q.order === 'asc' ? compareKeys(r, after) > 0 : compareKeys(r, after) < 0)
      }
      return rows.slice(0, q.limit)
    },
    async checkpoints (sensor, fromBucket, toBucket) {
      return [...checkpoints.values()].filter(c => c.sensor === sensor && c.bucket >= fromBucket && c.bucket <= toBucket)
        .sort((a, b) => toHex(a.gw).localeCompare(toHex(b.gw)) || a.bucket - b.bucket || a.part - b.part)
    },
    async ids (sensor, fromSeq, toSeq) {
      return sorted(sensor).filter(r => r.seq >= fromSeq && r.seq < toSeq).map(r => ({ seq: r.seq, gw: r.gw }))
    },
    async get (sensor, keys) {
      return keys.flatMap(k => { const r = readings.get(id(sensor, k.gw, k.seq)); return r === undefined ? [] : [r] })
    },
    async sensors (after, limit) {
      const all = new Set([...readings.values()].map(r => r.sensor).concat([...checkpoints.values()].map(c => c.sensor)))
      return [...all].sort().filter(s => after === undefined || s > after).slice(0, limit)
    },
    async deleteBefore (sensor, beforeSeq) {
      let n = 0
      for (const [k, r] of readings) if (r.sensor === sensor && r.seq < beforeSeq) { readings.delete(k); n++ }
      return n
    },
    async sizeBytes () {
      let n = 0
      for (const r of readings.values()) n += r.envelope.length + 64
      for (const c of checkpoints.values()) n += c.bytes.length + 64
      return n
    },
    async putCertificate (gw, der, notBefore) {
      checkCertificate(gw, der, notBefore)
      const held = certs.get(toHex(gw)) ?? []
      if (!held.some(c => toHex(c.der) === toHex(der))) held.push({ gw: Uint8Array.from(gw), der: Uint8Array.from(der), notBefore })
      certs.set(toHex(gw), held.sort(compareCertificates).slice(0, MAX_CERTIFICATES_PER_GW))
    },
    async certificates (gws) {
      return gws.flatMap(gw => (certs.get(toHex(gw)) ?? []).map(c => ({ ...c })))
    },
    readings: () => [...readings.values()]
  }
}
