/** Small guards for decoded structures: each failure is GM_ERR_MALFORMED naming the field. */
import { GatemeshError } from './errors.ts'

export type Struct = Record<string, unknown>

export function asStruct (value: unknown, what: string): Struct {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new GatemeshError('GM_ERR_MALFORMED', `${what} must be a map.`)
  }
  return value as Struct
}

export function onlyKeys (struct: Struct, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(struct)) {
    if (!allowed.includes(key)) throw new GatemeshError('GM_ERR_MALFORMED', `${what} has an unknown field '${key}'.`)
  }
}

export function str (struct: Struct, field: string, maxLength: number, pattern?: RegExp): string {
  const value = struct[field]
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || (pattern !== undefined && !pattern.test(value))) {
    throw new GatemeshError('GM_ERR_MALFORMED', `Field '${field}' must be a string of 1 to ${maxLength} characters${pattern === undefined ? '' : ' in the allowed form'}.`)
  }
  return value
}

export function uint (struct: Struct, field: string): number {
  const value = struct[field]
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new GatemeshError('GM_ERR_MALFORMED', `Field '${field}' must be a non-negative integer.`)
  }
  return value
}

export function optUint (struct: Struct, field: string): number | undefined {
  return struct[field] === undefined ? undefined : uint(struct, field)
}

export function bytes (struct: Struct, field: string, length: number | { max: number }): Uint8Array {
  const value = struct[field]
  const ok = value instanceof Uint8Array && (typeof length === 'number' ? value.length === length : value.length <= length.max)
  if (!ok) {
    throw new GatemeshError('GM_ERR_MALFORMED', `Field '${field}' must be ${typeof length === 'number' ? `${length}` : `at most ${length.max}`} bytes.`)
  }
  return value as Uint8Array
}
