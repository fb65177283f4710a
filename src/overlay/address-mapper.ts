/**
 * kad-dht's default peerInfoMapper drops private and loopback addresses, which leaves routing
 * tables empty when gateways run on 127.0.0.1 or a LAN. [OVL-9] gatemesh keeps every address a
 * peer could be dialled on, dropping only unspecified, link-local and relayed ones.
 */
import type { PeerInfo } from '@libp2p/interface'

const UNDIALABLE = [/^\/ip4\/0\.0\.0\.0\//, /^\/ip6\/::\//, /^\/ip6\/fe80:/i, /^\/ip4\/169\.254\./, /\/p2p-circuit/]

export function keepDialableAddresses (peer: PeerInfo): PeerInfo {
  return {
    ...peer,
    multiaddrs: peer.multiaddrs.filter(ma => {
      const text = ma.toString()
      return !UNDIALABLE.some(re => re.test(text))
    })
  }
}
