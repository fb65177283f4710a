/**
 * The revocation list in force on this peer. [OVL-21] A list replaces the current one only if
 * its CRL number is higher; listeners hear about every replacement.
 */
import { TypedEventEmitter } from 'main-event'
import type { VerifiedRevocationList } from '../types.ts'

export interface RevocationStateEvents {
  update: CustomEvent<VerifiedRevocationList>
}

export class RevocationState extends TypedEventEmitter<RevocationStateEvents> {
  private list: VerifiedRevocationList | undefined

  current (): VerifiedRevocationList | undefined {
    return this.list
  }

  /** Adopts `list` if it is newer than the current one; returns whether it did. */
  offer (list: VerifiedRevocationList): boolean {
    if (this.list !== undefined && list.number <= this.list.number) return false
    this.list = list
    this.safeDispatchEvent('update', { detail: list })
    return true
  }
}
