import { useState } from 'preact/hooks'

/** A copy button for `text`; when the clipboard is not allowed, it says to select and copy instead. */
export function CopyButton ({ text, label }: { text: string, label: string }) {
  const [done, setDone] = useState<string | undefined>(undefined)
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text)
      setDone('copied')
    } catch {
      setDone('the browser refused the clipboard: select the text and copy it')
    }
  }
  return (
    <span class="copy">
      <button type="button" aria-label={label} onClick={() => { void copy() }}>Copy</button>
      {done !== undefined && <span class="muted" role="status"> {done}</span>}
    </span>
  )
}
