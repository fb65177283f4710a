/**
 * `node src/demo/core-demo.ts`: a short, real demonstration of the core in one process: two users
 * sign up on the client side, a gateway seals a sensor reading for both, each opens it, an
 * outsider cannot, and a signed request is verified and its replay refused. (`npm start` runs the
 * local network instead: src/demo/start.ts.)
 */
import {
  createAccountBundle, EnvelopeOpener, EnvelopeSealer, fromUtf8, generateIdentity, isGatemeshError, openAccountBundle,
  RequestVerifier, signRequest, utf8, webCryptoSuite
} from '../core/index.ts'
import { createNodeCryptoSuite } from '../platform/node-crypto.ts'

const client = webCryptoSuite // what a browser or the CLI runs
const gatewaySuite = createNodeCryptoSuite() // what a gateway runs
const say = (line: string): void => { process.stdout.write(`${line}\n`) }

say('gatemesh core demonstration\n')
const alice = await generateIdentity(client)
const bob = await generateIdentity(client)
say(`1. Alice and Bob generate their keys on their own devices.\n   alice = ${alice.pseudonym}\n   bob   = ${bob.pseudonym}`)

let started = performance.now()
const bundle = await createAccountBundle(client, alice, 'alice-demo-password')
say(`2. Alice's private keys are sealed under her password (PBKDF2-SHA256, 4 000 000 iterations, ${(performance.now() - started).toFixed(0)} ms): a ${bundle.length}-byte bundle the overlay may store.`)
started = performance.now()
const loggedIn = await openAccountBundle(client, bundle, 'alice-demo-password')
say(`3. Log-in anywhere: the bundle opens with the password (${(performance.now() - started).toFixed(0)} ms) and gives back ${loggedIn.pseudonym === alice.pseudonym ? 'the same' : 'ANOTHER'} identity.`)
try {
  await openAccountBundle(client, bundle, 'a wrong guess')
} catch (err) {
  say(`   A wrong password fails with ${isGatemeshError(err) ? err.code : String(err)}.`)
}

const gatewayKey = await gatewaySuite.importSigningKey(gatewaySuite.randomBytes(32))
const sealer = new EnvelopeSealer({ suite: gatewaySuite, signer: gatewayKey })
const reading = utf8(JSON.stringify({ temperature: 21.5, humidity: 40 }))
const accessList = [alice, bob].map(who => ({ id: who.pseudonym, publicKey: who.encPub }))
const envelope = await sealer.seal({ sensor: 'greenhouse-7', ts: Date.now(), seq: 1 }, reading, accessList)
say(`4. A gateway seals a reading of sensor greenhouse-7 for Alice and Bob and signs it: ${envelope.length} bytes of ciphertext.`)
for (const [name, who] of [['Alice', alice], ['Bob', bob]] as const) {
  const opened = await new EnvelopeOpener({ suite: client, reader: who }).open(envelope)
  say(`5. ${name} opens it on their own device: ${fromUtf8(opened.plaintext)}`)
}
const eve = await generateIdentity(client)
try {
  await new EnvelopeOpener({ suite: client, reader: eve }).open(envelope)
} catch (err) {
  say(`6. Eve, not on the access list, gets ${isGatemeshError(err) ? err.code : String(err)}.`)
}

const headers = await signRequest(client, { keyId: alice.pseudonym, key: alice.signingKey }, { method: 'GET', url: '/v1/sensors/greenhouse-7/latest' })
const verifier = new RequestVerifier({ suite: gatewaySuite, resolveKey: async id => id === alice.pseudonym ? alice.sigPub : undefined })
const { keyId } = await verifier.verify({ method: 'GET', url: '/v1/sensors/greenhouse-7/latest', headers: { ...headers } })
say(`7. Alice signs a request; the gateway verifies it came from ${keyId === alice.pseudonym ? 'Alice' : keyId}.`)
try {
  await verifier.verify({ method: 'GET', url: '/v1/sensors/greenhouse-7/latest', headers: { ...headers } })
} catch (err) {
  say(`   Replaying it fails with ${isGatemeshError(err) ? err.code : String(err)}.`)
}
