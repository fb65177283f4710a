/**
 * What a part's error table is. Each part declares its codes in one table, `defineErrors({...})`
 * in its own errors.ts; src/core/errors.ts lists every part's table by name and builds the one
 * registry that GatemeshError reads. This module imports nothing, so that a part's errors.ts
 * (data only, importing only this module) never closes an import cycle through the core.
 */

export type ErrorCode = `GM_ERR_${string}`

export interface ErrorSpec {
  /** HTTP status that a service answers with when this error reaches a client. */
  readonly status: number
  /** One sentence on what went wrong, for people. */
  readonly message: string
}

export type ErrorTable = Readonly<Record<ErrorCode, ErrorSpec>>

const CODE = /^GM_ERR_[A-Z0-9_]+$/

/**
 * Declares a part's error codes: checks the table's shape and returns it. It registers nothing:
 * the table counts once src/core/errors.ts lists it.
 */
export function defineErrors<T extends ErrorTable> (table: T): T {
  for (const [code, spec] of Object.entries(table)) {
    if (!CODE.test(code)) throw new Error(`error code ${code} is not GM_ERR_ and capitals`)
    if (!Number.isInteger(spec.status) || spec.status < 400 || spec.status > 599) throw new Error(`error code ${code} has HTTP status ${spec.status}, not 4xx or 5xx`)
    if (typeof spec.message !== 'string' || spec.message === '') throw new Error(`error code ${code} has no message`)
  }
  return table
}
