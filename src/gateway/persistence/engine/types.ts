/**
 * The storage engine contract of the persistence service ([PER-20]..[PER-24]): what every engine
 * (embedded node:sqlite, InfluxDB) implements and the compliance suite holds it to. An engine
 * stores sealed envelopes and the collectors' signed checkpoints as opaque bytes beside the few
 * plain fields it indexes by; it never opens, verifies or decrypts anything (the service does).
 */

/** A sealed reading as a replica stores it. Its identity is (sensor, gw, seq). */
export interface StoredReading {
  sensor: string
  /** Ed25519 public key of the collecting gateway (the envelope's `gw`), 32 bytes. */
  gw: Uint8Array
  /** The reading's seq ([COL-6]): its place in history (about its time in µs). */
  seq: number
  /** The sealed envelope ([ENV-1]), as received. */
  envelope: Uint8Array
}

/** A collector's signed checkpoint ([PER-10]); its identity is (sensor, gw, bucket, part). */
export interface StoredCheckpoint {
  sensor: string
  gw: Uint8Array
  bucket: number
  part: number
  /** The signed checkpoint, as received. */
  bytes: Uint8Array
}

/** A collector's certificate as a replica keeps it ([PER-20]): distinct ones per gw, the newest by notBefore. */
export interface StoredCertificate {
  /** The gw key the certificate certifies. */
  gw: Uint8Array
  /** The certificate (DER), as received. */
  der: Uint8Array
  /** Its notBefore in ms since the epoch, as the service read it (an engine never parses a certificate). */
  notBefore: number
}

/** A reading's place in history: ordered by seq, then by gw bytewise. */
export interface HistoryKey {
  seq: number
  gw: Uint8Array
}

export interface RangeQuery {
  sensor: string
  /** Inclusive. */
  fromSeq: number
  /** Exclusive. */
  toSeq: number
  /** Ascending or descending by (seq, gw). */
  order: 'asc' | 'desc'
  /** Resume strictly after this key (in `order`). */
  after?: HistoryKey
  /** 1..10 000 */
  limit: number
}

export interface BucketDigest {
  /** floor(seq / REPAIR_BUCKET) ([PER-30]) */
  bucket: number
  /** Its readings plus its checkpoints. */
  count: number
  /** SHA-256 over the bucket's reading ids, then its checkpoint identities ([PER-2] `digest`, repair-digest.ts). */
  hash: Uint8Array
}

export interface AppendResult {
  /** Readings newly stored. */
  stored: number
  /** Readings already held (same sensor, gw and seq): not stored again. */
  duplicates: number
}

export interface StorageEngine {
  /** `sqlite` or `influxdb`: names the engine in logs and the admin status. */
  readonly name: string
  /** Opens (creates) the store; idempotent. Fails with GM_ERR_PERSISTENCE_ENGINE when the store cannot be reached or opened. */
  open: () => Promise<void>
  close: () => Promise<void>
  /**
   * Stores readings durably (on disk, or acknowledged by the database server) before it resolves.
   * Idempotent by (sensor, gw, seq): a reading held already is counted as a duplicate and the
   * copy held is kept. All or nothing per call.
   */
  append: (readings: readonly StoredReading[]) => Promise<AppendResult>
  /** Stores checkpoints durably; idempotent by (sensor, gw, bucket, part). Resolves to the number newly stored. */
  putCheckpoints: (checkpoints: readonly StoredCheckpoint[]) => Promise<number>
  /** Readings of a sensor with fromSeq <= seq < toSeq, in order, after `after`, at most `limit`. */
  range: (query: RangeQuery) => Promise<StoredReading[]>
  /** Checkpoints of a sensor with fromBucket <= bucket <= toBucket, by (gw, bucket, part). */
  checkpoints: (sensor: string, fromBucket: number, toBucket: number) => Promise<StoredCheckpoint[]>
  /** The ids (seq, gw) held for a sensor with fromSeq <= seq < toSeq, in (seq, gw) order. */
  ids: (sensor: string, fromSeq: number, toSeq: number) => Promise<HistoryKey[]>
  /** The readings held among `keys` (any order; missing ones are left out). */
  get: (sensor: string, keys: readonly HistoryKey[]) => Promise<StoredReading[]>
  /** Sensor ids held (readings or checkpoints), sorted, strictly after `after`, at most `limit`. */
  sensors: (after: string | undefined, limit: number) => Promise<string[]>
  /** Deletes a sensor's readings with seq < beforeSeq and checkpoints whose bucket ends at or before it; resolves to readings deleted. */
  deleteBefore: (sensor: string, beforeSeq: number) => Promise<number>
  /** Bytes the store takes (files on disk, or the server's own measure of the database). */
  sizeBytes: () => Promise<number>
  /**
   * Remembers a collector's certificate (DER) for its gw key, beside the others held for it: a
   * reading is checked against a certificate valid at its time ([ENV-10]), so a renewed
   * collector's older certificates stay. Each distinct DER is kept once (a put of one held keeps
   * it as it is); per gw the MAX_CERTIFICATES_PER_GW newest by notBefore are kept (ties: the DER
   * bytewise greater), the others deleted.
   */
  putCertificate: (gw: Uint8Array, der: Uint8Array, notBefore: number) => Promise<void>
  /** Every certificate held for these gw keys (absent ones left out), per gw newest first (the order putCertificate keeps them by). */
  certificates: (gws: readonly Uint8Array[]) => Promise<StoredCertificate[]>
}
