/**
 * The gatemesh web application: sign up, log in at this gateway, own and share sensors, read
 * them, all decrypted here. Routes live in the URL's fragment (#/, #/sensor/<id>), so the gateway
 * serves one page. What survives a reload is described in saved-account.ts.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
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

type Tab = 'login' | 'signup'
const TABS: Array<{ key: Tab, id: string, label: string }> = [{ key: 'login', id: 'tab-login', label: 'Log in' }, { key: 'signup', id: 'tab-signup', label: 'Sign up' }]

/**
 * The log-in / sign-up tabs as the ARIA tabs pattern has them: one tab in the Tab order (the
 * selected one, roving tabindex), the arrow keys, Home and End move between them and select.
 */
function AccountTabs ({ tab, onTab }: { tab: Tab, onTab: (tab: Tab) => void }) {
  const refs = useRef<Record<string, HTMLButtonElement | null>>({})
  const onKeyDown = (event: KeyboardEvent): void => {
    const at = TABS.findIndex(t => t.key === tab)
    const next = event.key === 'ArrowRight' ? (at + 1) % TABS.length
      : event.key === 'ArrowLeft' ? (at - 1 + TABS.length) % TABS.length
        : event.key === 'Home' ? 0
          : event.key === 'End' ? TABS.length - 1
            : undefined
    if (next === undefined) return
    event.preventDefault()
    const chosen = TABS[next] as typeof TABS[number]
    onTab(chosen.key)
    refs.current[chosen.key]?.focus()
  }
  return (
    <div role="tablist" aria-label="Account" class="tabs" onKeyDown={onKeyDown}>
      {TABS.map(t => (
        <button key={t.key} ref={el => { refs.current[t.key] = el }} type="button" role="tab" id={t.id} aria-selected={tab === t.key} aria-controls="panel"
          tabIndex={tab === t.key ? 0 : -1} onClick={() => { onTab(t.key) }}>{t.label}</button>
      ))}
    </div>
  )
}

export function App () {
  const [state, setState] = useState<State>({ screen: 'loading' })
  const [tab, setTab] = useState<Tab>('login')
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
        <AccountTabs tab={tab} onTab={setTab} />
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
