/**
 * What leaves the collector and what takes it: the sealed reading and the sink contract. The
 * collector seals; sinks (stream, the latest publisher, persistence) hold; the delivery between
 * them (delivery.ts) keeps a reading journaled until every sink has settled it. [COL-14]
 */

/** A reading as it leaves the collector: ciphertext only. */
export interface SealedReading {
  sensorId: string
  /** Milliseconds since the epoch, assigned by the collecting gateway. */
  ts: number
  /** The sensor's sequence number for this reading ([COL-6]). */
  seq: number
  /** The sealed, gateway-signed envelope ([ENV-1]). */
  envelope: Uint8Array
}

/**
 * [COL-14] A service that takes every sealed reading. `deliver` resolves once what the sink
 * promises holds for every reading of the batch (the latest publisher: a record at least as new
 * is in the DHT; persistence: W replicas durable; stream: handed to the relay) and rejects (or
 * never settles) otherwise. It may be called again with readings it already took, after a
 * failure, a time-out or a restart: taking a reading twice must be taking it once.
 */
export interface ReadingSink {
  /** Short and stable: names the sink in logs and counters. */
  readonly name: string
  deliver: (readings: readonly SealedReading[]) => Promise<void>
  /** Hurries what `deliver` waits on (a stop is waiting); optional. */
  flush?: () => Promise<void>
  /**
   * True when the sink keeps, of every reading it is given, what it still needs until it holds
   * it, retries on its own, and settles each batch once it holds it (rejecting only when it
   * stops). The delivery then gives each batch once and keeps none of its readings, so that they
   * die young on the event loop; a batch not settled in time is counted and logged, and stays
   * journaled until the sink settles it.
   */
  readonly retriesItself?: boolean
  /**
   * For a sink that retries by itself: how long, in milliseconds from now, the batch it has just
   * been given may take to settle while it works as designed (a queue of its own, a budget),
   * beyond its usual time. The delivery asks once per batch, right after `deliver`, and counts the
   * batch late only after this plus its time-out; it takes at most `maxExpectedDelayMs` of it
   * (5 min by default) and none of a value that is not a positive number, so that a sink that
   * stalls for real is still counted late. Ignored for a sink that does not retry by itself.
   * Optional: without it, the time-out alone. [COL-14]
   */
  expectedDelayMs?: () => number
}
