/**
 * The Stream service's MQTT broker for applications (issue 16): log-in with a stream token,
 * authorized subscriptions to sensors' readings, a namespace per user, bounded persistent
 * sessions, and `deliver` for the relay. docs/PROTOCOL.md holds the clauses [STR-5] .. [STR-19].
 */
export { createStreamBroker, type StreamBroker, type StreamBrokerComponents, type StreamBrokerInit, type StreamBrokerStatus, type StreamReading } from './broker.ts'
export type { AccountKey } from './auth.ts'
export { createAccountKeyLookup, type AccountLookupComponents, type AccountLookupInit } from './account-lookup.ts'
export type { PayloadRecipients, RecipientsOf } from './forward.ts'
export { readingTopic, userPrefix } from './topics.ts'
export { STREAM_ERRORS } from './errors.ts'
