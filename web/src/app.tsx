/**
 * The gatemesh web application: sign up, log in at this gateway, own and share sensors, read
 * them, all decrypted here. Routes live in the URL's fragment (#/, #/sensor/<id>), so the gateway
 * serves one page. What survives a reload is described in saved-account.ts.
 */
import { useEffect, useState } from 'preact/hooks'
import { LogIn, SignUp, Unlock } from './account-screens.tsx'
import type { LoggedIn } from './account-screens.tsx'
import { forgetAccount, loadAccount } from './saved-account.ts'
import type { SavedAccount } from './saved-account.ts'
import { SensorScreen } from './sensor-screen.tsx'
import { SensorsScreen } from './sensors-screen.tsx'
import { CopyButton } from './copy.tsx'
import type { NetworkInfo } from '../../src/client/index.ts'
import type { StreamPeers } from './live-panel.tsx'

type State = { screen: 'loading' } | { screen: 'welcome' } | { screen: 'unlock', saved: SavedAccount } | { screen: 'in', who: LoggedIn }

function useRoute (): string {
  const [hash, setHash] = useState(location.hash)
  useEffect(() => {
    const on = (): void => { setHash(location.hash) }
    addEventListener('hashchange', on)
    return () => { removeEventListener('hashchange', on) }
  }, [])
  return hash
}

/** [ACS-18] [STR-49] Where the live view subscribes: this gateway's broker first, then the network's other stream peers. */
function streamPeers (network: NetworkInfo): StreamPeers {
  const own = network.stream?.ws
  const urls = [...(own === undefined ? [] : [own]), ...(network.streams ?? []).map(s => s.ws)]
  return { urls: urls.filter((u, i) => urls.indexOf(u) === i), own }
}

export function App () {
  const [state, setState] = useState<State>({ screen: 'loading' })
  const [tab, setTab] = useState<'signup' | 'login'>('login')
  const hash = useRoute()
  useEffect(() => {
    void loadAccount().then(saved => { setState(saved === undefined ? { screen: 'welcome' } : { screen: 'unlock', saved }) })
  }, [])
  const logOut = async (): Promise<void> => {
    await forgetAccount().catch(() => {})
    location.hash = ''
    setState({ screen: 'welcome' })
  }
  const signedIn = (who: LoggedIn): void => { setState({ screen: 'in', who }) }

  let body
  if (state.screen === 'loading') body = <p class="muted">loading…</p>
  else if (state.screen === 'unlock') body = <Unlock saved={state.saved} onDone={signedIn} onForget={() => { setState({ screen: 'welcome' }) }} />
  else if (state.screen === 'welcome') {
    body = (
      <div>
        <p>Your sensors' readings are encrypted at the first gateway for the people you choose, and decrypted only here, in your browser.</p>
        <div role="tablist" aria-label="Account" class="tabs">
          <button type="button" role="tab" id="tab-login" aria-selected={tab === 'login'} aria-controls="panel" onClick={() => { setTab('login') }}>Log in</button>
          <button type="button" role="tab" id="tab-signup" aria-selected={tab === 'signup'} aria-controls="panel" onClick={() => { setTab('signup') }}>Sign up</button>
        </div>
        <div id="panel" role="tabpanel" aria-labelledby={tab === 'login' ? 'tab-login' : 'tab-signup'}>
          {tab === 'login' ? <LogIn onDone={signedIn} /> : <SignUp onDone={signedIn} />}
        </div>
      </div>
    )
  } else {
    const { session, network } = state.who
    const sensor = /^#\/sensor\/(.+)$/.exec(hash)?.[1]
    body = (
      <div>
        <div class="who">
          <span>Logged in as <code id="me">{session.pseudonym}</code></span> <CopyButton text={session.pseudonym} label="Copy your pseudonym" />{' '}
          <button type="button" class="secondary" id="logout" onClick={() => { void logOut() }}>Log out</button>
        </div>
        <p class="muted">Network CA (SHA-256): <code class="fingerprint">{network.fingerprint}</code></p>
        {sensor === undefined
          ? <SensorsScreen session={session} network={network} />
          : <SensorScreen session={session} id={decodeURIComponent(sensor)} key={sensor} streams={streamPeers(network)} />}
      </div>
    )
  }
  return (
    <>
      <header><h1><a href="#/">gatemesh</a></h1></header>
      <main>{body}</main>
    </>
  )
}
