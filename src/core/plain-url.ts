/**
 * [STR-49] [ACS-23] Plain URLs: a scheme, a host that is a DNS name (labels of letters, digits and
 * hyphens, 1 to 63 characters, neither starting nor ending with a hyphen, dot-separated, an
 * optional trailing dot) or an IP address (IPv4 dotted, IPv6 in brackets), an optional port and,
 * for a URL rather than an origin, an optional path of URL characters; no user info, query or
 * fragment. The WHATWG URL parser alone takes hosts such as `a;sandbox`, `*`, `a,b` or `'self'`
 * (and `%3b`, decoded to `;`), which in a Content-Security-Policy header would be policy syntax:
 * a stream peer's listeners ([STR-49]) and the connect-src origins made of them ([ACS-23]) are
 * both held to this one shape. Isomorphic.
 */

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
const AUTHORITY = `(?:${LABEL}(?:\\.${LABEL})*\\.?|\\[[0-9A-Fa-f:.]+\\])(?::[0-9]{1,5})?`
const PATH = "(?:/[A-Za-z0-9\\-._~!$&'()*+,;=:@%/]*)?"

/** A scheme and its TLS form: `ws` is ws:// or wss://, `mqtt` is mqtt:// or mqtts://. */
export type PlainScheme = 'ws' | 'mqtt'

const ORIGINS: Record<PlainScheme, RegExp> = {
  ws: new RegExp(`^wss?://${AUTHORITY}$`),
  mqtt: new RegExp(`^mqtts?://${AUTHORITY}$`)
}
const URLS: Record<PlainScheme, RegExp> = {
  ws: new RegExp(`^wss?://${AUTHORITY}${PATH}$`),
  mqtt: new RegExp(`^mqtts?://${AUTHORITY}${PATH}$`)
}

/** `scheme://host[:port]` and nothing more (as `new URL(u).origin` gives it for a plain URL). */
export function isPlainOrigin (text: string, scheme: PlainScheme): boolean {
  return ORIGINS[scheme].test(text)
}

/** `scheme://host[:port][/path]`: a plain origin and an optional path of URL characters. */
export function isPlainUrl (text: string, scheme: PlainScheme): boolean {
  return URLS[scheme].test(text)
}
