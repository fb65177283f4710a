/**
 * The reading envelope: how a gateway seals a reading so that only the users on the sensor's
 * access list can read it. [ENV-1] .. [ENV-8] in docs/PROTOCOL.md.
 *
 * Per reading: a fresh 256-bit data key and nonce; the reading under AES-256-GCM with the sensor
 * id, timestamp and sequence number as associated data. The data key is wrapped for each
 * recipient with AES-256-GCM under a wrapping key exported (RFC 9180 §5.3) from an HPKE base-mode
 * context set up for that recipient, so one X25519 operation serves a whole epoch of readings.
 * Wrapping nonces are a per-context counter (NIST SP 800-38D §8.2.1, deterministic construction):
 * never reused, because a context lives only in one sealer's memory and is never persisted.
 *
 * One reading is signed alone ([ENV-6]); readings sealed together are signed once, over the
 * RFC 9162 Merkle tree head of their bodies, each envelope carrying its inclusion proof ([ENV-9]):
 * the Ed25519 signature is the largest single cost of sealing a reading.
 */
import type { AeadKey, AgreementKey, CryptoSuite, SigningKey } from './suite.ts'
import { GatemeshError } from './errors.ts'
import { concat, counterNonce, equalBytes, toHex, uint64be, utf8 } from './bytes.ts'
import { decodeCanonical } from './encoding.ts'
import { AES_256_GCM, contextExport, setupBaseRecipient, setupBaseSender } from './hpke.ts'
import { asStruct, bytes, onlyKeys, str, uint, type Struct } from './shape.ts'
import { CborWriter } from './cbor-writer.ts'
import { HASH_BYTES, NodeMemo, leafHash, leafHashSync, rootFromInclusionProof, rootFromInclusionProofSync, treeWithProofs } from './merkle.ts'

export const ENVELOPE_VERSION = 1
const ENVELOPE_DOMAIN = utf8('gatemesh/envelope/v1\0')
const BATCH_DOMAIN = utf8('gatemesh/envelope-batch/v1\0')
const HPKE_INFO = utf8('gatemesh/envelope/v1')
const EXPORT_CONTEXT = utf8('gatemesh/wrap-key/v1')
const BODY_FIELDS = ['v', 'sensor', 'ts', 'seq', 'nonce', 'ct', 'wraps', 'gw']
export const SENSOR_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/
export const MAX_READING_BYTES = 64 * 1024
export const MAX_RECIPIENTS = 256
/** [ENV-9] Readings signed together at most; an inclusion proof then has at most 16 hashes. */
export const MAX_BATCH = 65_536
const MAX_PROOF_HASHES = 16
/** [ENV-8] Envelopes beyond this are refused before decoding. */
export const MAX_ENVELOPE_BYTES = MAX_READING_BYTES + 16 + MAX_RECIPIENTS * 200 + 1024

export interface ReadingHeader {
  sensor: string
  /** Milliseconds since the Unix epoch. */
  ts: number
  seq: number
}

export interface Recipient {
  /** The recipient's pseudonym; a reader finds its wrap by it. */
  id: string
  /** Raw X25519 public key. */
  publicKey: Uint8Array
}

export interface Wrap { to: string, enc: Uint8Array, ctr: number, w: Uint8Array }

export interface Envelope extends ReadingHeader {
  v: 1
  nonce: Uint8Array
  ct: Uint8Array
  wraps: Wrap[]
  /** Raw Ed25519 public key of the collecting gateway. */
  gw: Uint8Array
  sig: Uint8Array
  /** [ENV-9] Where the reading stands in the batch that `sig` signs; absent when signed alone. */
  batch?: { index: number, size: number }
}

/** One reading to seal. */
export interface SealRequest {
  header: ReadingHeader
  plaintext: Uint8Array
  recipients: readonly Recipient[]
}

/** What sealBatch gives for each reading, in order: its envelope, or why it could not be sealed. */
export type SealOutcome = { envelope: Uint8Array } | { error: unknown }

/** [ENV-2] Associated data of the reading ciphertext: the canonical CBOR of { v, sensor, ts, seq }, written directly (keys in canonical order: v, ts, seq, sensor). */
function writeReadingAad (w: CborWriter, header: ReadingHeader): Uint8Array {
  return w.begin().map(4).text('v').uint(ENVELOPE_VERSION).text('ts').uint(header.ts).text('seq').uint(header.seq).text('sensor').text(header.sensor).finish()
}

/** [ENV-4] Associated data of a wrap: the reading's AAD followed by the recipient id. */
function wrapAad (aad: Uint8Array, to: string): Uint8Array {
  return concat(aad, utf8(to))
}

/** [ENV-6] The signature covers the domain tag and the body's exact bytes. */
function toBeSigned (body: Uint8Array): Uint8Array {
  return concat(ENVELOPE_DOMAIN, body)
}

/** [ENV-9] A batch signature covers the domain tag, the tree size (8 bytes, big-endian) and the tree head. */
function batchToBeSigned (size: number, root: Uint8Array): Uint8Array {
  return concat(BATCH_DOMAIN, uint64be(size), root)
}

function checkHeader (header: ReadingHeader): void {
  str(header as unknown as Struct, 'sensor', 128, SENSOR_ID_PATTERN)
  uint(header as unknown as Struct, 'ts')
  uint(header as unknown as Struct, 'seq')
}

interface SenderContext {
  enc: Uint8Array
  wrapKey: AeadKey
  counter: number
  readonly created: number
}

export interface EnvelopeSealerComponents {
  suite: CryptoSuite
  /** The collecting gateway's signing key. */
  signer: SigningKey
}

export interface EnvelopeSealerInit {
  /** Wraps per context before a new one is set up (bounds each wrapping key's use). */
  maxWrapsPerContext?: number
  /** Age in milliseconds after which a context is replaced. */
  maxContextAgeMs?: number
  now?: () => number
}

/** Seals readings; keeps one HPKE sender context per recipient key and epoch. [ENV-5] */
export class EnvelopeSealer {
  private readonly suite: CryptoSuite
  private readonly signer: SigningKey
  private readonly maxWraps: number
  private readonly maxAgeMs: number
  private readonly now: () => number
  /** recipient id -> the key the context was set up for, and the context. */
  private readonly contexts = new Map<string, { publicKey: Uint8Array, pending: Promise<SenderContext>, ready?: SenderContext }>()
  /** Used only between awaits, so concurrent seals never interleave in it. */
  private readonly writer = new CborWriter()

  constructor (components: EnvelopeSealerComponents, init: EnvelopeSealerInit = {}) {
    this.suite = components.suite
    this.signer = components.signer
    this.maxWraps = init.maxWrapsPerContext ?? 2 ** 24
    this.maxAgeMs = init.maxContextAgeMs ?? 60 * 60 * 1000
    this.now = init.now ?? Date.now
  }

  /** [ENV-3] One HPKE sender context per recipient; its exported key wraps data keys. */
  private async setup (recipient: Recipient): Promise<SenderContext> {
    const { enc, context } = await setupBaseSender(AES_256_GCM, recipient.publicKey, HPKE_INFO, this.suite.randomBytes(32))
    const wrapKey = await this.suite.importAeadKey(await contextExport(context, EXPORT_CONTEXT, 32))
    return { enc, wrapKey, counter: 0, created: this.now() }
  }

  /** The context for this recipient with a fresh counter value reserved, rotating when due. */
  private async reserve (recipient: Recipient): Promise<{ context: SenderContext, ctr: number }> {
    const id = recipient.id
    let entry = this.contexts.get(id)
    if (entry === undefined || !equalBytes(entry.publicKey, recipient.publicKey)) {
      const created: { publicKey: Uint8Array, pending: Promise<SenderContext>, ready?: SenderContext } = { publicKey: Uint8Array.from(recipient.publicKey), pending: this.setup(recipient) }
      this.contexts.set(id, created)
      created.pending.then(context => { created.ready = context }, () => { if (this.contexts.get(id) === created) this.contexts.delete(id) })
      entry = created
    }
    const context = await entry.pending
    if (context.counter >= this.maxWraps || this.now() - context.created >= this.maxAgeMs) {
      if (this.contexts.get(id) === entry) this.contexts.delete(id)
      return await this.reserve(recipient)
    }
    return { context, ctr: context.counter++ }
  }

  /** reserve() without an await: the context when it is set up for this key and due no rotation. */
  private reserveNow (recipient: Recipient): { context: SenderContext, ctr: number } | undefined {
    const entry = this.contexts.get(recipient.id)
    const context = entry?.ready
    if (entry === undefined || context === undefined || !equalBytes(entry.publicKey, recipient.publicKey)) return undefined
    if (context.counter >= this.maxWraps || this.now() - context.created >= this.maxAgeMs) return undefined
    return { context, ctr: context.counter++ }
  }

  /** Drops every context whose recipient is not in `keep` (after an access-list change). */
  retainOnly (keep: readonly Recipient[]): void {
    for (const [id, entry] of this.contexts) {
      if (!keep.some(r => r.id === id && equalBytes(r.publicKey, entry.publicKey))) this.contexts.delete(id)
    }
  }

  /** [ENV-1] Seals one reading for the given recipients and signs the envelope. */
  async seal (header: ReadingHeader, plaintext: Uint8Array, recipients: readonly Recipient[]): Promise<Uint8Array> {
    return await this.signAlone(await this.sealBody(header, plaintext, recipients))
  }

  /**
   * [ENV-9] Seals several readings and signs them with one signature over the Merkle tree head
   * of their bodies. A reading that cannot be sealed gets its error in its place; the others are
   * signed without it (one reading left is signed alone, [ENV-6]).
   */
  async sealBatch (readings: readonly SealRequest[]): Promise<SealOutcome[]> {
    if (readings.length > MAX_BATCH) throw new GatemeshError('GM_ERR_TOO_LARGE', `At most ${MAX_BATCH} readings are signed together.`)
    const outcomes: SealOutcome[] = []
    const sealed: Array<{ at: number, body: Uint8Array }> = []
    for (const [at, r] of readings.entries()) {
      try {
        sealed.push({ at, body: await this.sealBody(r.header, r.plaintext, r.recipients) })
        outcomes.push({ envelope: new Uint8Array(0) })
      } catch (error) {
        outcomes.push({ error })
      }
    }
    const only = sealed.length === 1 ? sealed[0] : undefined
    if (only !== undefined) outcomes[only.at] = { envelope: await this.signAlone(only.body) }
    if (sealed.length < 2) return outcomes
    const sha256Sync = this.suite.sha256Sync
    const leaves = sha256Sync !== undefined ? sealed.map(s => leafHashSync(sha256Sync, s.body)) : await Promise.all(sealed.map(async s => await leafHash(this.suite, s.body)))
    const { root, proofs } = await treeWithProofs(this.suite, leaves)
    const sig = await this.suite.sign(this.signer, batchToBeSigned(sealed.length, root))
    // [ENV-9] keys in canonical order: b, p, s; the proof's: h, i, n
    for (const [index, { at, body }] of sealed.entries()) {
      const w = this.writer.begin().map(3).text('b').bytes(body).text('p').map(3).text('h').bytes(concat(...(proofs[index] as Uint8Array[])))
      outcomes[at] = { envelope: w.text('i').uint(index).text('n').uint(sealed.length).text('s').bytes(sig).finish() }
    }
    return outcomes
  }

  /** [ENV-6] [ENV-1] The envelope of one body signed alone: { b, s }. */
  private async signAlone (body: Uint8Array): Promise<Uint8Array> {
    const sig = await this.suite.sign(this.signer, toBeSigned(body))
    return this.writer.begin().map(2).text('b').bytes(body).text('s').bytes(sig).finish()
  }

  /** [ENV-1] .. [ENV-4] The body of one reading sealed for the given recipients (not yet signed). */
  private async sealBody (header: ReadingHeader, plaintext: Uint8Array, recipients: readonly Recipient[]): Promise<Uint8Array> {
    checkHeader(header)
    if (!(plaintext instanceof Uint8Array) || plaintext.length > MAX_READING_BYTES) throw new GatemeshError('GM_ERR_TOO_LARGE', `A reading is at most ${MAX_READING_BYTES} bytes.`)
    if (recipients.length === 0) throw new GatemeshError('GM_ERR_NO_RECIPIENTS')
    if (recipients.length > MAX_RECIPIENTS) throw new GatemeshError('GM_ERR_TOO_LARGE', `At most ${MAX_RECIPIENTS} recipients.`)
    const random = this.suite.randomBytes(44)
    const dataKey = random.subarray(0, 32)
    const nonce = random.slice(32, 44)
    const aad = writeReadingAad(this.writer, header)
    const suite = this.suite
    const ct = suite.aeadSealSync !== undefined ? suite.aeadSealSync(dataKey, nonce, plaintext, aad) : await suite.aeadSeal(dataKey, nonce, plaintext, aad)
    const wraps: Wrap[] = []
    for (const recipient of recipients) {
      const { context, ctr } = this.reserveNow(recipient) ?? await this.reserve(recipient)
      const w = suite.aeadSealSync !== undefined
        ? suite.aeadSealSync(context.wrapKey, counterNonce(ctr), dataKey, wrapAad(aad, recipient.id))
        : await suite.aeadSeal(context.wrapKey, counterNonce(ctr), dataKey, wrapAad(aad, recipient.id))
      // Keys in canonical order (RFC 8949 §4.2.1: shorter encoded key first): w, to, ctr, enc.
      wraps.push({ w, to: recipient.id, ctr, enc: context.enc })
    }
    dataKey.fill(0)
    // Keys in canonical order: v, ct, gw, ts, seq, nonce, wraps, sensor; a wrap's: w, to, ctr, enc.
    const w = this.writer
    w.begin().map(8).text('v').uint(ENVELOPE_VERSION).text('ct').bytes(ct).text('gw').bytes(this.signer.publicKey)
      .text('ts').uint(header.ts).text('seq').uint(header.seq).text('nonce').bytes(nonce).text('wraps').array(wraps.length)
    for (const wrap of wraps) w.map(4).text('w').bytes(wrap.w).text('to').text(wrap.to).text('ctr').uint(wrap.ctr).text('enc').bytes(wrap.enc)
    // [ENV-1] The envelope carries the signed body as the very bytes that were signed.
    return w.text('sensor').text(header.sensor).finish()
  }
}

/** An envelope decoded and checked for form, its signature not yet verified. */
interface DecodedEnvelope {
  fields: Omit<Envelope, 'sig' | 'batch'>
  body: Uint8Array
  sig: Uint8Array
  proof?: { index: number, size: number, path: Uint8Array[] }
}

/** [ENV-1] [ENV-8] Decodes an envelope and checks its form; verifies nothing. */
function decodeEnvelope (encoded: Uint8Array, maxBytes = MAX_ENVELOPE_BYTES, inputOwned = false): DecodedEnvelope {
  const outer = asStruct(decodeCanonical(encoded, { maxBytes, inputOwned }), 'An envelope')
  onlyKeys(outer, ['b', 'p', 's'], 'An envelope')
  const body = bytes(outer, 'b', { max: MAX_ENVELOPE_BYTES })
  const sig = bytes(outer, 's', 64)
  const proof = outer.p === undefined ? undefined : inclusionProof(outer.p)
  // the body is a byte string the outer decode just gave: its own copy, views of it are safe
  const struct = asStruct(decodeCanonical(body, { maxBytes: MAX_ENVELOPE_BYTES, inputOwned: true }), 'An envelope body')
  if (struct.v !== ENVELOPE_VERSION) throw new GatemeshError('GM_ERR_UNSUPPORTED_VERSION', `Envelope version ${String(struct.v)}.`)
  onlyKeys(struct, BODY_FIELDS, 'An envelope body')
  checkHeader(struct as unknown as ReadingHeader)
  bytes(struct, 'nonce', 12)
  bytes(struct, 'ct', { max: MAX_READING_BYTES + 16 })
  bytes(struct, 'gw', 32)
  if (!Array.isArray(struct.wraps) || struct.wraps.length === 0 || struct.wraps.length > MAX_RECIPIENTS) {
    throw new GatemeshError('GM_ERR_MALFORMED', 'Field \'wraps\' must list 1 to 256 wraps.')
  }
  for (const item of struct.wraps) {
    const wrap = asStruct(item, 'A wrap')
    onlyKeys(wrap, ['to', 'enc', 'ctr', 'w'], 'A wrap')
    str(wrap, 'to', 128)
    bytes(wrap, 'enc', 32)
    uint(wrap, 'ctr')
    bytes(wrap, 'w', 48)
  }
  return { fields: struct as unknown as Omit<Envelope, 'sig' | 'batch'>, body, sig, proof }
}

/**
 * [ENV-1] The header of an envelope and the key `gw` it names, checked for form only: the
 * signature is NOT verified. For holders that bind an envelope to what carries it ([OVL-31]: a
 * `latest` record's signer and key) and leave the signature to readers.
 */
export function readEnvelopeHeader (encoded: Uint8Array, options: { maxBytes?: number } = {}): ReadingHeader & { gw: Uint8Array } {
  const { fields } = decodeEnvelope(encoded, options.maxBytes)
  return { sensor: fields.sensor, ts: fields.ts, seq: fields.seq, gw: fields.gw }
}

/**
 * [STR-23] The sensor of an envelope and the pseudonyms it carries a wrap for (`to`), from its
 * body checked for form ([ENV-1], [ENV-8] bounds) only: the signature is NOT verified. For a
 * stream peer deciding whom to forward a reading to; it opens nothing.
 */
export function envelopeRecipients (encoded: Uint8Array, options: { maxBytes?: number } = {}): { sensor: string, to: string[] } {
  const { fields } = decodeEnvelope(encoded, options.maxBytes)
  return { sensor: fields.sensor, to: fields.wraps.map(wrap => wrap.to) }
}

export interface VerifyEnvelopeOptions {
  maxBytes?: number
  /**
   * [ENV-9] Batch signatures that verified already, kept by the caller across the envelopes of
   * one batch (a replica verifying a push): an envelope whose proof leads to a (gw, size, tree
   * head, signature) in the set is not verified again, and one that verifies adds its own. The
   * inclusion proof is still checked for every envelope; only the Ed25519 verification is shared.
   */
  verifiedBatches?: Set<string>
  /**
   * The encoded bytes are the caller's own, which nothing changes afterwards (as decodeCanonical's
   * `inputOwned`): the envelope's byte fields may then be views of them instead of a copy.
   */
  inputOwned?: boolean
}

/**
 * [ENV-9] What verifying keeps beside a caller's verifiedBatches set, for as long as it lives:
 * the interior Merkle nodes hashed (the envelopes of one batch share their proofs' upper nodes,
 * so each is hashed once per set instead of once per envelope; a node is found by its exact hash
 * input, so a proof still leads from its own body to the root, node by node), and each batch
 * signature's verification, found by comparing (gw, size, tree head, signature) byte for byte:
 * its outcome once known (true or false: the check is deterministic), else the one in flight,
 * which envelopes of the batch verified concurrently share.
 */
interface BatchState {
  memo: NodeMemo
  batches: Map<number, BatchVerification[]>
}
interface BatchVerification { gw: Uint8Array, size: number, root: Uint8Array, sig: Uint8Array, outcome: Promise<boolean> }
const batchStates = new WeakMap<Set<string>, BatchState>()

function batchStateOf (cache: Set<string>): BatchState {
  let state = batchStates.get(cache)
  if (state === undefined) batchStates.set(cache, state = { memo: new NodeMemo(), batches: new Map() })
  return state
}

/** [ENV-9] The verification of this batch signature within the set: the one known or in flight, else a new one. */
function batchVerification (suite: CryptoSuite, gw: Uint8Array, size: number, root: Uint8Array, sig: Uint8Array, cache: Set<string>, state: BatchState): BatchVerification {
  const id = ((sig[0] as number) << 24 | (sig[1] as number) << 16 | (sig[2] as number) << 8 | (sig[3] as number)) ^ size
  let list = state.batches.get(id)
  const known = list?.find(b => b.size === size && equalBytes(b.sig, sig) && equalBytes(b.root, root) && equalBytes(b.gw, gw))
  if (known !== undefined) return known
  const outcome = (async () => {
    const key = `${toHex(gw)}.${size}.${toHex(root)}.${toHex(sig)}`
    if (cache.has(key)) return true
    const ok = await suite.verify(gw, batchToBeSigned(size, root), sig)
    if (ok) cache.add(key)
    return ok
  })()
  if (list === undefined) state.batches.set(id, list = [])
  const entry = { gw: Uint8Array.from(gw), size, root: Uint8Array.from(root), sig: Uint8Array.from(sig), outcome }
  list.push(entry)
  return entry
}

/** [ENV-6] Decodes an envelope and verifies the gateway's signature; no key needed. */
export async function verifyEnvelope (suite: CryptoSuite, encoded: Uint8Array, options: VerifyEnvelopeOptions = {}): Promise<Envelope> {
  const { fields, body, sig, proof } = decodeEnvelope(encoded, options.maxBytes, options.inputOwned === true)
  const gw = fields.gw
  if (proof === undefined) {
    if (!await suite.verify(gw, toBeSigned(body), sig)) throw new GatemeshError('GM_ERR_BAD_SIGNATURE')
    return { ...fields, sig }
  }
  // [ENV-9] the proof leads from this body to the tree head that the gateway signed
  const leaf = suite.sha256Sync !== undefined ? leafHashSync(suite.sha256Sync, body) : await leafHash(suite, body)
  const cache = options.verifiedBatches
  const state = cache === undefined ? undefined : batchStateOf(cache)
  const root = await rootFromInclusionProof(suite, proof.index, proof.size, leaf, proof.path, state?.memo)
  if (root === undefined) throw new GatemeshError('GM_ERR_BAD_SIGNATURE')
  const signed = cache === undefined || state === undefined
    ? await suite.verify(gw, batchToBeSigned(proof.size, root), sig)
    : await batchVerification(suite, gw, proof.size, root, sig, cache, state).outcome
  if (!signed) throw new GatemeshError('GM_ERR_BAD_SIGNATURE')
  return { ...fields, sig, batch: { index: proof.index, size: proof.size } }
}

/** What verifyEnvelopes gives for each envelope, in order: the envelope, or what verifyEnvelope would have thrown. */
export type VerifyOutcome = { envelope: Envelope } | { error: unknown }

/**
 * [ENV-6] [ENV-9] verifyEnvelope of many envelopes at once (a replica's push): each decoded, its
 * form checked and its own proof computed from its own body as verifyEnvelope does, each distinct
 * batch signature verified once (shared through `verifiedBatches` as verifyEnvelope shares it,
 * a set of the call's own when none is given), with no await per envelope when the suite hashes
 * synchronously. One outcome per envelope, in order; without a synchronous SHA-256, verifyEnvelope
 * on each in turn.
 */
export async function verifyEnvelopes (suite: CryptoSuite, encoded: readonly Uint8Array[], options: VerifyEnvelopeOptions = {}): Promise<VerifyOutcome[]> {
  const cache = options.verifiedBatches ?? new Set<string>()
  const sha256Sync = suite.sha256Sync
  const out: VerifyOutcome[] = new Array(encoded.length)
  if (sha256Sync === undefined) {
    for (let i = 0; i < encoded.length; i++) {
      out[i] = await verifyEnvelope(suite, encoded[i] as Uint8Array, { ...options, verifiedBatches: cache }).then(envelope => ({ envelope }), (error: unknown) => ({ error }))
    }
    return out
  }
  const state = batchStateOf(cache)
  // each envelope decoded and its proof followed to a tree head; the signature it needs, in flight
  const pending: Array<{ decoded: DecodedEnvelope, signed: Promise<boolean> } | undefined> = new Array(encoded.length)
  for (let i = 0; i < encoded.length; i++) {
    let decoded: DecodedEnvelope
    try {
      decoded = decodeEnvelope(encoded[i] as Uint8Array, options.maxBytes, options.inputOwned === true)
    } catch (error) {
      out[i] = { error }
      continue
    }
    const { fields, body, sig, proof } = decoded
    if (proof === undefined) {
      pending[i] = { decoded, signed: (async () => await suite.verify(fields.gw, toBeSigned(body), sig))() }
      continue
    }
    const root = rootFromInclusionProofSync(sha256Sync, proof.index, proof.size, leafHashSync(sha256Sync, body), proof.path, state.memo)
    if (root === undefined) {
      out[i] = { error: new GatemeshError('GM_ERR_BAD_SIGNATURE') }
      continue
    }
    pending[i] = { decoded, signed: batchVerification(suite, fields.gw, proof.size, root, sig, cache, state).outcome }
  }
  // one await for the distinct signatures in flight
  const verdicts = new Map<Promise<boolean>, { ok: boolean } | { error: unknown }>()
  for (const p of pending) if (p !== undefined && !verdicts.has(p.signed)) verdicts.set(p.signed, { ok: false })
  await Promise.all([...verdicts.keys()].map(async signed => {
    try {
      verdicts.set(signed, { ok: await signed })
    } catch (error) {
      verdicts.set(signed, { error })
    }
  }))
  for (let i = 0; i < encoded.length; i++) {
    const p = pending[i]
    if (p === undefined) continue
    const verdict = verdicts.get(p.signed) as { ok: boolean } | { error: unknown }
    if ('error' in verdict) { out[i] = { error: verdict.error }; continue }
    if (!verdict.ok) { out[i] = { error: new GatemeshError('GM_ERR_BAD_SIGNATURE') }; continue }
    const { fields, sig, proof } = p.decoded
    out[i] = { envelope: proof === undefined ? { ...fields, sig } : { ...fields, sig, batch: { index: proof.index, size: proof.size } } }
  }
  return out
}

/** [ENV-9] The envelope's `p`: { h: the path's hashes concatenated, i: leaf index, n: tree size }. */
function inclusionProof (value: unknown): { index: number, size: number, path: Uint8Array[] } {
  const p = asStruct(value, 'An inclusion proof')
  onlyKeys(p, ['h', 'i', 'n'], 'An inclusion proof')
  const h = bytes(p, 'h', { max: MAX_PROOF_HASHES * HASH_BYTES })
  const index = uint(p, 'i')
  const size = uint(p, 'n')
  if (h.length === 0 || h.length % HASH_BYTES !== 0) throw new GatemeshError('GM_ERR_MALFORMED', `Field 'h' must be 1 to ${MAX_PROOF_HASHES} hashes of ${HASH_BYTES} bytes.`)
  if (size < 2 || size > MAX_BATCH || index >= size) throw new GatemeshError('GM_ERR_MALFORMED', `An inclusion proof needs 2 to ${MAX_BATCH} leaves and an index below their number.`)
  const path: Uint8Array[] = []
  for (let at = 0; at < h.length; at += HASH_BYTES) path.push(h.subarray(at, at + HASH_BYTES))
  return { index, size, path }
}

export interface OpenedReading {
  header: ReadingHeader
  plaintext: Uint8Array
  /** The collecting gateway's Ed25519 public key; the caller decides whether it trusts it. */
  gateway: Uint8Array
}

export interface EnvelopeOpenerComponents {
  suite: CryptoSuite
  /** The reader: its pseudonym and X25519 key. */
  reader: { pseudonym: string, agreementKey: AgreementKey }
}

/** Opens envelopes for one reader; caches wrapping keys per sender context. [ENV-7] */
export class EnvelopeOpener {
  private readonly suite: CryptoSuite
  private readonly reader: EnvelopeOpenerComponents['reader']
  private readonly wrapKeys = new Map<string, Promise<AeadKey>>()
  private readonly maxCached: number
  private readonly writer = new CborWriter()

  constructor (components: EnvelopeOpenerComponents, init: { maxCachedContexts?: number } = {}) {
    this.suite = components.suite
    this.reader = components.reader
    this.maxCached = init.maxCachedContexts ?? 1024
  }

  private async wrapKey (enc: Uint8Array): Promise<AeadKey> {
    const id = String.fromCharCode(...enc)
    let pending = this.wrapKeys.get(id)
    if (pending === undefined) {
      pending = setupBaseRecipient(this.suite, AES_256_GCM, enc, this.reader.agreementKey, HPKE_INFO)
        .then(async context => await this.suite.importAeadKey(await contextExport(context, EXPORT_CONTEXT, 32)))
      if (this.wrapKeys.size >= this.maxCached) this.wrapKeys.clear()
      this.wrapKeys.set(id, pending)
      pending.catch(() => this.wrapKeys.delete(id))
    }
    return await pending
  }

  /** [ENV-7] Verifies the envelope's signature ([ENV-6]) and opens it. */
  async open (encoded: Uint8Array): Promise<OpenedReading> {
    return await this.openVerified(await verifyEnvelope(this.suite, encoded))
  }

  /** [ENV-7] Opens an envelope that verifyEnvelope returned (so a reader can check it, [ENV-10], before decrypting). */
  async openVerified (envelope: Envelope): Promise<OpenedReading> {
    const wrap = envelope.wraps.find(candidate => candidate.to === this.reader.pseudonym)
    if (wrap === undefined) throw new GatemeshError('GM_ERR_NOT_A_RECIPIENT')
    const header: ReadingHeader = { sensor: envelope.sensor, ts: envelope.ts, seq: envelope.seq }
    // [ENV-2] written directly (finish() gives a fresh array; the writer is not held across an await)
    const aad = writeReadingAad(this.writer, header)
    const dataKey = await this.suite.aeadOpen(await this.wrapKey(wrap.enc), counterNonce(wrap.ctr), wrap.w, wrapAad(aad, wrap.to))
    const plaintext = await this.suite.aeadOpen(dataKey, envelope.nonce, envelope.ct, aad)
    return { header, plaintext, gateway: envelope.gw }
  }
}
