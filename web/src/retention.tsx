/** The retention choice [SEN-2]: how long the persistence peers keep a sensor's readings. */
export const RETENTION_CHOICES = {
  /** undefined: the record carries none, the network's default (30 days). */
  default: undefined as number | undefined,
  options: [
    { label: 'default (30 days)', value: undefined },
    { label: '1 day', value: 86_400 },
    { label: '7 days', value: 7 * 86_400 },
    { label: '30 days', value: 30 * 86_400 },
    { label: '90 days', value: 90 * 86_400 },
    { label: '1 year', value: 365 * 86_400 },
    { label: 'forever', value: 0 }
  ] as Array<{ label: string, value: number | undefined }>
}

export function RetentionSelect ({ id, value, onChange, withDefault = true }: { id: string, value: number | undefined, onChange: (value: number | undefined) => void, withDefault?: boolean }) {
  const options = RETENTION_CHOICES.options.filter(o => withDefault || o.value !== undefined)
  return (
    <>
      <label for={id}>Keep readings for</label>
      <select id={id} value={value === undefined ? 'default' : String(value)} onChange={e => { const v = e.currentTarget.value; onChange(v === 'default' ? undefined : Number(v)) }}>
        {options.map(o => <option key={o.label} value={o.value === undefined ? 'default' : String(o.value)}>{o.label}</option>)}
        {value !== undefined && !options.some(o => o.value === value) && <option value={String(value)}>{value} s</option>}
      </select>
    </>
  )
}
