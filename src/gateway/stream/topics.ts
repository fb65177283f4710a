/**
 * The stream broker's topic rules, as pure functions: which filters a user may subscribe to
 * ([STR-10] .. [STR-13]), where an application may publish ([STR-12]), and which messages reach
 * which user ([STR-14]).
 */
import { isSensorId } from '../../core/index.ts'

/** [STR-10] The topic of a sensor's readings. */
export function readingTopic (sensorId: string): string {
  return `sensors/${sensorId}/readings`
}

/** The root of a user's own namespace, `users/<pseudonym>/`. [STR-12] */
export function userPrefix (pseudonym: string): string {
  return `users/${pseudonym}/`
}

export type FilterClass =
  /** `sensors/<id>/readings`: allowed when the sensor's record lists the user. */
  | { kind: 'sensor', sensorId: string }
  /** [STR-11] `sensors/+/readings`: every reading that carries a wrap for the user. */
  | { kind: 'all-sensors' }
  /** a filter inside `users/<own pseudonym>/`. */
  | { kind: 'own' }
  | { kind: 'forbidden' }

/**
 * [STR-10] .. [STR-13] What a subscription filter of `pseudonym` is. A filter inside the user's
 * namespace is any filter whose first two levels are `users` and the pseudonym, literally (no
 * wildcard there), and that has a level after them.
 */
export function classifyFilter (pseudonym: string, filter: string): FilterClass {
  const levels = filter.split('/')
  if (levels.length === 3 && levels[0] === 'sensors' && levels[2] === 'readings') {
    if (levels[1] === '+') return { kind: 'all-sensors' }
    const id = levels[1] as string
    if (isSensorId(id)) return { kind: 'sensor', sensorId: id }
    return { kind: 'forbidden' }
  }
  if (levels.length >= 3 && levels[0] === 'users' && levels[1] === pseudonym) return { kind: 'own' }
  return { kind: 'forbidden' }
}

/** [STR-12] An application (or its will) may publish only inside its own namespace. */
export function mayPublish (pseudonym: string, topic: string): boolean {
  const prefix = userPrefix(pseudonym)
  return topic.length > prefix.length && topic.startsWith(prefix)
}

/** The sensor id of a reading topic, or undefined for any other topic. */
export function readingTopicSensor (topic: string): string | undefined {
  if (!topic.startsWith('sensors/') || !topic.endsWith('/readings')) return undefined
  const id = topic.slice('sensors/'.length, -'/readings'.length)
  return isSensorId(id) ? id : undefined
}
