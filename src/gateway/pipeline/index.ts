/**
 * The reading pipeline's contract between the collector and the services that take its sealed
 * readings: the SealedReading type, the ReadingSink contract and the delivery that holds a
 * reading's journal row until every sink has settled it. [COL-7] [COL-14]
 */
export type { ReadingSink, SealedReading } from './types.ts'
export { Delivery, DEFAULT_DELIVERY, type DeliveryComponents, type DeliveryInit, type DeliveryStats } from './delivery.ts'
export { PIPELINE_ERRORS } from './errors.ts'
