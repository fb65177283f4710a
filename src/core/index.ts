/**
 * gatemesh's isomorphic core: identities, account bundles, reading envelopes, signed records and
 * signed requests over one CryptoSuite. Runs unchanged in Node 24 and in browsers.
 */
export * from './errors.ts'
export * from './bytes.ts'
export { encodeCanonical, decodeCanonical, readIfCanonical, DEFAULT_MAX_BYTES, type DecodeOptions } from './encoding.ts'
export type { AeadKey, AgreementKey, CryptoSuite, SigningKey } from './suite.ts'
export { createWebCryptoSuite, webCryptoSuite } from './webcrypto-suite.ts'
export { derivePseudonym, generateIdentity, identityFromSecrets, isPseudonym, verifyPseudonym, type Identity, type PublicIdentity } from './identity.ts'
export { openRecord, signRecord, RECORD_VERSION, type OpenRecordOptions, type RecordFields, type SignedRecord } from './records.ts'
export { createAccountBundle, openAccountBundle, verifyAccountBundle, ACCOUNT_RECORD_TYPE, KDF_ALGORITHM, DEFAULT_KDF_ITERATIONS, MIN_KDF_ITERATIONS, type AccountRecord, type CreateAccountOptions, type KdfParams } from './account.ts'
export { EnvelopeSealer, EnvelopeOpener, envelopeRecipients, readEnvelopeHeader, verifyEnvelope, verifyEnvelopes, type VerifyOutcome, ENVELOPE_VERSION, MAX_ENVELOPE_BYTES, type VerifyEnvelopeOptions, MAX_BATCH, MAX_READING_BYTES, MAX_RECIPIENTS, SENSOR_ID_PATTERN, type Envelope, type EnvelopeSealerInit, type OpenedReading, type ReadingHeader, type Recipient, type SealOutcome, type SealRequest, type Wrap } from './envelope.ts'
export { signRequest, RequestVerifier, SIGNATURE_LABEL, type RequestToSign, type RequestToVerify, type RequestVerifierInit, type SignedRequestHeaders } from './requests.ts'
export { AES_128_GCM, AES_256_GCM, contextExport, setupBaseRecipient, setupBaseSender, type HpkeAead, type HpkeContext, type HpkeRecipientContext, type HpkeSenderContext } from './hpke.ts'
export { checkSensorCredential, createSensorCredential, createSensorRecord, formatRetention, isSensorId, mayRead, parseRetention, sensorRecipients, sensorVerifier, verifySensorRecord, DEFAULT_RETENTION_SECONDS, MAX_READERS, MAX_RETENTION_SECONDS, MIN_RETENTION_SECONDS, SENSOR_RECORD_TYPE, type Reader, type SensorInfo, type SensorRecordInit } from './sensor.ts'
export { formatDuration, parseDuration } from './duration.ts'
export { isPlainOrigin, isPlainUrl, type PlainScheme } from './plain-url.ts'
export { checkpointBucket, openCheckpoint, signCheckpoint, CHECKPOINT_BUCKET, CHECKPOINT_VERSION, MAX_CHECKPOINT_BYTES, MAX_CHECKPOINT_SEQS, type CheckpointBody, type CheckpointLink, type OpenedCheckpoint } from './checkpoint.ts'
export { compareHistoryKeys, verifyHistoryPage, type HistoryKey, type HistoryOrder, type HistoryPageInput, type HistoryPageVerdict } from './history.ts'
export { createStreamToken, signJws, verifyJws, verifyStreamToken, DEFAULT_STREAM_TOKEN_TTL_SECONDS, DEFAULT_TOKEN_SKEW_SECONDS, MAX_STREAM_TOKEN_BYTES, MAX_STREAM_TOKEN_TTL_SECONDS, STREAM_TOKEN_AUDIENCE, type StreamTokenClaims, type VerifiedJws, type VerifyStreamTokenOptions } from './token.ts'
export { decodeStreamPayload, encodeStreamPayload, MAX_STREAM_CERT_BYTES, MAX_STREAM_PAYLOAD_BYTES, STREAM_PAYLOAD_VERSION, type StreamPayload } from './stream-payload.ts'
