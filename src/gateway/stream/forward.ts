/**
 * [STR-14] Which message goes to which user. A reading (on `sensors/<id>/readings`) reaches a
 * user only when its envelope carries a wrap for the user's pseudonym; a message in a user's
 * namespace reaches that user only; nothing else reaches anyone. Aedes asks this synchronously
 * for every delivery, so each payload's recipients are read once and kept beside the payload
 * object (a WeakMap: the cache lives exactly as long as Aedes holds the message).
 */
import { readingTopicSensor, userPrefix } from './topics.ts'

/** What the stream peer reads of a reading's payload (core's stream-payload.ts): its sensor and its wraps' `to`. */
export interface PayloadRecipients {
  sensorId: string
  /** The pseudonyms the envelope carries a wrap for. */
  recipients: ReadonlySet<string>
}

export type RecipientsOf = (payload: Uint8Array) => PayloadRecipients

const NONE: PayloadRecipients = { sensorId: '', recipients: new Set() }

export class ForwardRule {
  private readonly recipientsOf: RecipientsOf
  private readonly cache = new WeakMap<Uint8Array, PayloadRecipients>()

  constructor (recipientsOf: RecipientsOf) {
    this.recipientsOf = recipientsOf
  }

  /** The payload's recipients, read once per payload object; none when it does not decode. */
  recipients (payload: Uint8Array): PayloadRecipients {
    let found = this.cache.get(payload)
    if (found === undefined) {
      try {
        found = this.recipientsOf(payload)
      } catch {
        // reaches no one
        found = NONE
      }
      this.cache.set(payload, found)
    }
    return found
  }

  /** [STR-14] True when a message on `topic` with `payload` may go to `pseudonym`. */
  mayForward (pseudonym: string, topic: string, payload: Uint8Array | string): boolean {
    if (topic.startsWith('sensors/')) {
      const sensorId = readingTopicSensor(topic)
      if (sensorId === undefined || typeof payload === 'string') return false
      const found = this.recipients(payload)
      return found.sensorId === sensorId && found.recipients.has(pseudonym)
    }
    return topic.startsWith(userPrefix(pseudonym))
  }
}
