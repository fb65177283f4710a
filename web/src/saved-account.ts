/**
 * What survives a reload: the account's pseudonym, its sealed bundle and the pinned CA
 * certificate, in IndexedDB. Never a private key or a password: the bundle is the same sealed
 * record every gateway already holds in the DHT ([ACC-1]), so keeping it here exposes nothing
 * new; after a reload the password opens it again, here ([ACS-5]). Log-out deletes it.
 */
const DB = 'gatemesh'
const STORE = 'account'
const KEY = 'current'

export interface SavedAccount {
  pseudonym: string
  bundle: Uint8Array
  /** The network's CA certificate (DER), pinned at sign-up or log-in [ACS-19]. */
  caCertificate: Uint8Array
}

async function open (): Promise<IDBDatabase> {
  return await new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1)
    request.onupgradeneeded = () => { request.result.createObjectStore(STORE) }
    request.onsuccess = () => { resolve(request.result) }
    request.onerror = () => { reject(request.error ?? new Error('IndexedDB cannot be opened')) }
  })
}

async function run<T> (mode: IDBTransactionMode, act: (store: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open()
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode)
      const request = act(tx.objectStore(STORE))
      tx.oncomplete = () => { resolve(request.result as T) }
      tx.onerror = () => { reject(tx.error ?? new Error('IndexedDB transaction failed')) }
    })
  } finally {
    db.close()
  }
}

export async function loadAccount (): Promise<SavedAccount | undefined> {
  try {
    const value = await run<SavedAccount | undefined>('readonly', store => store.get(KEY))
    if (value === undefined || typeof value.pseudonym !== 'string' || !(value.bundle instanceof Uint8Array) || !(value.caCertificate instanceof Uint8Array)) return undefined
    return value
  } catch {
    // private browsing without IndexedDB: nothing is kept, log-in asks again
    return undefined
  }
}

export async function saveAccount (account: SavedAccount): Promise<void> {
  try {
    await run('readwrite', store => store.put({ pseudonym: account.pseudonym, bundle: Uint8Array.from(account.bundle), caCertificate: Uint8Array.from(account.caCertificate) }, KEY))
  } catch {
    // not kept: a reload asks for the pseudonym again
  }
}

export async function forgetAccount (): Promise<void> {
  await run('readwrite', store => store.delete(KEY))
}
