/**
 * [ACS-21] Sign-up is unsigned and costs the client almost nothing (a bundle only claims the
 * password derivation it names; nobody can check the client ran it), while every account costs
 * the overlay a record on up to k peers. So each source address gets a token bucket of sign-ups:
 * `burst` at once, `perHour` sustained. IPv4 addresses count one by one; IPv6 addresses by their
 * /64 prefix, the block one host or one home is usually given.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { GatemeshError } from '../../core/index.ts'

export interface SignupLimit {
  /** Sign-ups one source may make at once; default 10. */
  burst: number
  /** Sign-ups one source may make per hour, sustained; default 60. */
  perHour: number
  /** Sources remembered at most (the least recently seen is forgotten first); default 100 000. */
  maxSources?: number
}

export const DEFAULT_SIGNUP_LIMIT: Readonly<SignupLimit> = { burst: 10, perHour: 60, maxSources: 100_000 }

interface Bucket { tokens: number, at: number }

/** The 16-bit groups of an IPv6 address (without a zone), or undefined. */
function ipv6Groups (address: string): string[] | undefined {
  const [head = '', tail, extra] = address.split('%')[0]?.split('::') ?? []
  if (extra !== undefined) return undefined
  const parse = (part: string): string[] => {
    if (part === '') return []
    const groups = part.split(':')
    const last = groups.at(-1) as string
    if (isIPv4(last)) {
      const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number]
      groups.splice(-1, 1, ((a << 8) | b).toString(16), ((c << 8) | d).toString(16))
    }
    return groups
  }
  const left = parse(head)
  const right = tail === undefined ? [] : parse(tail)
  const fill = tail === undefined ? 0 : 8 - left.length - right.length
  const groups = [...left, ...Array<string>(Math.max(0, fill)).fill('0'), ...right]
  return groups.length === 8 ? groups.map(g => g.toLowerCase().replace(/^0+(?=.)/, '')) : undefined
}

/** Whom a sign-up is counted against: an IPv4 address, or an IPv6 /64 prefix. */
export function sourceOf (address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown'
  if (isIPv4(address)) return address
  if (!isIPv6(address)) return address
  const groups = ipv6Groups(address)
  if (groups === undefined) return address
  // An IPv4-mapped address (::ffff:a.b.c.d) is that IPv4 address.
  if (groups.slice(0, 5).every(g => g === '0') && groups[5] === 'ffff') {
    const n = [groups[6], groups[7]].map(g => parseInt(g as string, 16))
    return [(n[0] as number) >> 8, (n[0] as number) & 255, (n[1] as number) >> 8, (n[1] as number) & 255].join('.')
  }
  return `${groups.slice(0, 4).join(':')}::/64`
}

/** A token bucket of sign-ups per source address. */
export class SignupLimiter {
  private readonly burst: number
  private readonly perMs: number
  private readonly maxSources: number
  private readonly now: () => number
  /** source -> bucket, least recently seen first. */
  private readonly buckets = new Map<string, Bucket>()

  constructor (limit: SignupLimit = DEFAULT_SIGNUP_LIMIT, now: () => number = Date.now) {
    if (!(limit.burst >= 1) || !(limit.perHour > 0)) throw new GatemeshError('GM_ERR_GATEWAY_CONFIG', 'A sign-up limit needs burst >= 1 and perHour > 0.')
    this.burst = limit.burst
    this.perMs = limit.perHour / 3_600_000
    this.maxSources = limit.maxSources ?? DEFAULT_SIGNUP_LIMIT.maxSources as number
    this.now = now
  }

  /** Takes one sign-up from the source's bucket; GM_ERR_SIGNUP_RATE_LIMITED (with retryAfterSeconds) when it is empty. */
  take (address: string | undefined): void {
    const source = sourceOf(address)
    const t = this.now()
    const held = this.buckets.get(source)
    const bucket = held === undefined
      ? { tokens: this.burst, at: t }
      : { tokens: Math.min(this.burst, held.tokens + Math.max(0, t - held.at) * this.perMs), at: t }
    // Most recently seen last; the bound forgets the least recently seen source first (it can
    // only gain by it what a new address would give it anyway).
    this.buckets.delete(source)
    this.buckets.set(source, bucket)
    if (this.buckets.size > this.maxSources) this.buckets.delete(this.buckets.keys().next().value as string)
    if (bucket.tokens < 1) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000))
      throw Object.assign(new GatemeshError('GM_ERR_SIGNUP_RATE_LIMITED', `Retry in ${retryAfterSeconds} s.`), { retryAfterSeconds })
    }
    bucket.tokens -= 1
  }
}
