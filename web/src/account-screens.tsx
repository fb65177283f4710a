/** Sign up, log in, and unlock a saved account after a reload. All keys are made and opened here. */
import { useState } from 'preact/hooks'
import { DEFAULT_KDF_ITERATIONS, MIN_KDF_ITERATIONS, isPseudonym } from '../../src/core/index.ts'
import { Session, createClient } from '../../src/client/index.ts'
import type { Client, NetworkInfo } from '../../src/client/index.ts'
import { CopyButton } from './copy.tsx'
import { ErrorMessage } from './errors.tsx'
import { KdfProgress, useKdf } from './kdf-progress.tsx'
import { forgetAccount, saveAccount } from './saved-account.ts'
import type { SavedAccount } from './saved-account.ts'
import { passwordStrength } from './strength.ts'

export interface LoggedIn { client: Client, session: Session, network: NetworkInfo }

/** This gateway: the one that served the page (the CSP allows no other). */
export function gatewayClient (init: { kdfIterations?: number, caCertificate?: Uint8Array } = {}): Client {
  return createClient({ gateway: location.origin, ...init })
}

async function remember (client: Client, session: Session): Promise<void> {
  await saveAccount({ pseudonym: session.pseudonym, bundle: session.bundle, caCertificate: client.caCertificate as Uint8Array })
}

export function SignUp ({ onDone }: { onDone: (who: LoggedIn) => void }) {
  const [password, setPassword] = useState('')
  const [confirm, setConfirm] = useState('')
  const [iterations, setIterations] = useState(String(DEFAULT_KDF_ITERATIONS))
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const [made, setMade] = useState<LoggedIn | undefined>(undefined)
  const kdf = useKdf()
  const strength = passwordStrength(password)
  const cost = Number(iterations)
  const costProblem = !Number.isSafeInteger(cost) || cost < MIN_KDF_ITERATIONS ? `At least ${MIN_KDF_ITERATIONS.toLocaleString('en')} iterations.` : undefined
  const mismatch = confirm !== '' && confirm !== password

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    if (password === '' || mismatch || costProblem !== undefined) return
    setBusy(true)
    setError(undefined)
    try {
      const client = gatewayClient({ kdfIterations: cost })
      const network = await client.network()
      const result = await kdf.run(cost, async () => await client.signup(password))
      // the identity made here is the session: no second derivation to open the bundle again
      const session = new Session({ client, identity: result.identity, bundle: result.bundle })
      await remember(client, session)
      setMade({ client, session, network })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }

  if (made !== undefined) {
    return (
      <section aria-labelledby="signed-up">
        <h2 id="signed-up">Your account is ready</h2>
        <p>This is your <strong>pseudonym</strong>, your account name:</p>
        <p class="pseudonym">
          <output id="new-pseudonym" aria-label="Your pseudonym">{made.session.pseudonym}</output>{' '}
          <CopyButton text={made.session.pseudonym} label="Copy your pseudonym" />
        </p>
        <p>gatemesh has no user names and no e-mail addresses. To log in, at this gateway or any other
          of the network, you need this pseudonym and your password. Others share sensors with you by it.
          Keep it: nobody, no gateway included, can look it up or recover a lost password.</p>
        <p class="muted">Your keys were made in this browser and sealed under your password before anything was sent.</p>
        <KdfProgress state={kdf.state} what="Sealed your keys under your password" />
        <button type="button" onClick={() => { onDone(made) }}>Continue to my sensors</button>
      </section>
    )
  }
  return (
    <form onSubmit={(e) => { void submit(e) }} aria-labelledby="signup-title">
      <h2 id="signup-title">Sign up</h2>
      <label for="signup-password">Password</label>
      <input id="signup-password" type="password" autocomplete="new-password" required value={password} onInput={e => { setPassword(e.currentTarget.value) }} />
      <label for="signup-strength">Strength: {strength.label}</label>
      <meter id="signup-strength" min={0} max={4} low={2} high={3} optimum={4} value={strength.score} />
      {strength.hint !== undefined && password !== '' && <p class="muted">{strength.hint}</p>}
      <label for="signup-confirm">Password again</label>
      <input id="signup-confirm" type="password" autocomplete="new-password" required value={confirm} onInput={e => { setConfirm(e.currentTarget.value) }} aria-invalid={mismatch} />
      {mismatch && <p class="error" role="alert">The two passwords differ.</p>}
      <details>
        <summary>Advanced: cost of the password derivation</summary>
        <label for="signup-iterations">PBKDF2-SHA256 iterations (default {DEFAULT_KDF_ITERATIONS.toLocaleString('en')}, at least {MIN_KDF_ITERATIONS.toLocaleString('en')})</label>
        <input id="signup-iterations" type="number" inputMode="numeric" min={MIN_KDF_ITERATIONS} step={1} value={iterations} onInput={e => { setIterations(e.currentTarget.value) }} />
        {costProblem !== undefined && <p class="error" role="alert">{costProblem}</p>}
      </details>
      <button type="submit" disabled={busy || password === '' || mismatch || costProblem !== undefined}>{busy ? 'Making your keys…' : 'Sign up'}</button>
      <KdfProgress state={kdf.state} what="Sealing your keys under your password" />
      <ErrorMessage error={error} />
    </form>
  )
}

export function LogIn ({ onDone }: { onDone: (who: LoggedIn) => void }) {
  const [pseudonym, setPseudonym] = useState('')
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const kdf = useKdf()
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const client = gatewayClient()
      const network = await client.network()
      const name = pseudonym.trim()
      const session = await kdf.run(DEFAULT_KDF_ITERATIONS, async () => await client.login(name, password))
      await remember(client, session)
      onDone({ client, session, network })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  const badName = pseudonym.trim() !== '' && !isPseudonym(pseudonym.trim())
  return (
    <form onSubmit={(e) => { void submit(e) }} aria-labelledby="login-title">
      <h2 id="login-title">Log in</h2>
      <label for="login-pseudonym">Pseudonym</label>
      <input id="login-pseudonym" autocomplete="username" spellcheck={false} required value={pseudonym} onInput={e => { setPseudonym(e.currentTarget.value) }} aria-invalid={badName} />
      {badName && <p class="muted">A pseudonym is 52 characters of a to z and 2 to 7.</p>}
      <label for="login-password">Password</label>
      <input id="login-password" type="password" autocomplete="current-password" required value={password} onInput={e => { setPassword(e.currentTarget.value) }} />
      <button type="submit" disabled={busy}>{busy ? 'Opening your keys…' : 'Log in'}</button>
      <KdfProgress state={kdf.state} what="Opening your keys with your password" />
      <ErrorMessage error={error} />
    </form>
  )
}

/** After a reload: the saved sealed bundle, opened with the password (no network needed for that). */
export function Unlock ({ saved, onDone, onForget }: { saved: SavedAccount, onDone: (who: LoggedIn) => void, onForget: () => void }) {
  const [password, setPassword] = useState('')
  const [error, setError] = useState<unknown>(undefined)
  const [busy, setBusy] = useState(false)
  const kdf = useKdf()
  const submit = async (event: Event): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setError(undefined)
    try {
      const client = gatewayClient({ caCertificate: saved.caCertificate })
      // [ACS-19] this gateway must be of the network pinned at sign-up or log-in
      const network = await client.network()
      const session = await kdf.run(DEFAULT_KDF_ITERATIONS, async () => await client.resume(saved.bundle, password, saved.pseudonym))
      onDone({ client, session, network })
    } catch (err) {
      setError(err)
    } finally {
      setBusy(false)
    }
  }
  return (
    <form onSubmit={(e) => { void submit(e) }} aria-labelledby="unlock-title">
      <h2 id="unlock-title">Welcome back</h2>
      <p>This browser keeps your account's sealed keys, never the keys themselves: enter your password to open them.</p>
      <p>Account: <code class="pseudonym" id="unlock-pseudonym">{saved.pseudonym}</code></p>
      <label for="unlock-password">Password</label>
      <input id="unlock-password" type="password" autocomplete="current-password" required value={password} onInput={e => { setPassword(e.currentTarget.value) }} />
      <button type="submit" disabled={busy}>{busy ? 'Opening your keys…' : 'Open'}</button>{' '}
      <button type="button" class="secondary" onClick={() => { void forgetAccount().finally(onForget) }}>Log out</button>
      <KdfProgress state={kdf.state} what="Opening your keys with your password" />
      <ErrorMessage error={error} />
    </form>
  )
}
