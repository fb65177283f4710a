/** The certificate gate: certificate exchange, guarded DHT components. */
export { CertificateGate, certificateGate } from './certificate-gate.ts'
export type { CertificateGateComponents, CertificateGateInit, CertificateGateEvents } from './certificate-gate.ts'
export { gateStreamHandler, guardComponents } from './guarded-components.ts'
export type { GuardableComponents } from './guarded-components.ts'
export { CERT_PROTOCOL, encodeMessage, decodeMessage, MAX_MESSAGE_BYTES } from './protocol.ts'
export type { CertMessage, Hello, Refuse } from './protocol.ts'
