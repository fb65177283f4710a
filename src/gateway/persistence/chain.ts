/**
 * [PER-11] The collector's checkpoint chains: per sensor, the seqs given to the persistence sink
 * and not yet signed, by bucket; part 0 of a bucket is signed once the clock is past the
 * bucket's end by `grace` (or at stop), a further part for seqs of a bucket signed already at
 * the next tick. Each checkpoint is committed to the outbox with the chain head it becomes
 * before it is sent.
 */
import { CHECKPOINT_BUCKET, MAX_CHECKPOINT_SEQS, checkpointBucket, openCheckpoint, signCheckpoint } from '../../core/index.ts'
import type { CryptoSuite, SigningKey } from '../../core/index.ts'
import type { Outbox, OutboxItem } from './outbox.ts'

export interface ChainSignerComponents {
  suite: CryptoSuite
  signer: SigningKey
  outbox: Outbox
}

export interface ChainSignerInit {
  /** [PER-11] How long after a bucket's end its part 0 is signed; default 5 s. */
  graceMs?: number
}

export class ChainSigner {
  private readonly components: ChainSignerComponents
  /** sensor → bucket → seqs not yet signed. */
  private readonly unsigned = new Map<string, Map<number, Set<number>>>()
  private signing?: Promise<OutboxItem[]>
  private readonly graceMs: number

  constructor (components: ChainSignerComponents, init: ChainSignerInit = {}) {
    this.components = components
    this.graceMs = init.graceMs ?? 5000
  }

  add (sensor: string, seq: number): void {
    let buckets = this.unsigned.get(sensor)
    if (buckets === undefined) { buckets = new Map(); this.unsigned.set(sensor, buckets) }
    const bucket = checkpointBucket(seq)
    let seqs = buckets.get(bucket)
    if (seqs === undefined) { seqs = new Set(); buckets.set(bucket, seqs) }
    seqs.add(seq)
  }

  /** Seqs not yet in a checkpoint. */
  get pending (): number {
    let n = 0
    for (const buckets of this.unsigned.values()) for (const seqs of buckets.values()) n += seqs.size
    return n
  }

  /**
   * Signs what is due at `nowMs` (everything when `all`): one tick at a time. Resolves to the
   * checkpoints committed, to push.
   */
  async sign (nowMs: number, all = false): Promise<OutboxItem[]> {
    while (this.signing !== undefined) await this.signing.catch(() => {})
    this.signing = this.signDue(nowMs, all)
    try {
      return await this.signing
    } finally {
      this.signing = undefined
    }
  }

  private async signDue (nowMs: number, all: boolean): Promise<OutboxItem[]> {
    const { suite, signer, outbox } = this.components
    const out: OutboxItem[] = []
    const nowSeq = nowMs * 1000
    for (const [sensor, buckets] of this.unsigned) {
      for (const bucket of [...buckets.keys()].sort((a, b) => a - b)) {
        const seqs = buckets.get(bucket) as Set<number>
        const head = outbox.head(sensor)
        let part = outbox.nextPart(sensor, bucket)
        // part 0 once the bucket is closed (plus grace); a late part at once
        if (part === 0 && (head === null || bucket > head.lastPartZero) && !all && nowSeq < (bucket + 1) * CHECKPOINT_BUCKET + this.graceMs * 1000) continue
        // [PER-10] part-0 buckets strictly increase: a bucket at or before the last part 0 gets a late part
        if (part === 0 && head !== null && bucket <= head.lastPartZero) part = 1
        const taken = [...seqs].sort((a, b) => a - b)
        let prev = head?.link ?? null
        for (let at = 0; at < taken.length; at += MAX_CHECKPOINT_SEQS) {
          const chunk = taken.slice(at, at + MAX_CHECKPOINT_SEQS)
          const bytes = await signCheckpoint(suite, signer, { sensor, gw: signer.publicKey, bucket, part, prev, seqs: chunk })
          const { hash } = await openCheckpoint(suite, bytes)
          // [PER-11] the checkpoint, the head it becomes and its seqs: one transaction, before sending
          out.push(outbox.commitCheckpoint({ sensor, bucket, part, bytes, hash, seqs: chunk }, nowMs))
          prev = { bucket, part, h: hash }
          part++
        }
        for (const seq of taken) seqs.delete(seq)
        if (seqs.size === 0) buckets.delete(bucket)
      }
      if (buckets.size === 0) this.unsigned.delete(sensor)
    }
    return out
  }
}
