/**
 * A small password strength estimate for the sign-up meter: roughly the bits an attacker who
 * knows common patterns must guess (character classes, length, repeats, sequences, a short list
 * of very common passwords). A guide for the user, not a policy: the KDF ([ACC-2]) does the rest.
 */
const COMMON = ['password', '123456', 'qwerty', 'letmein', 'welcome', 'admin', 'iloveyou', 'monkey', 'dragon', 'abc123', 'passw0rd', 'gatemesh', 'football', 'sunshine', 'princess']

export interface Strength {
  /** 0 (very weak) to 4 (strong). */
  score: 0 | 1 | 2 | 3 | 4
  label: string
  bits: number
  hint?: string
}

const LABELS = ['very weak', 'weak', 'fair', 'good', 'strong'] as const

export function passwordStrength (password: string): Strength {
  if (password.length === 0) return { score: 0, label: LABELS[0], bits: 0, hint: 'Choose a password.' }
  let pool = 0
  if (/[a-z]/.test(password)) pool += 26
  if (/[A-Z]/.test(password)) pool += 26
  if (/[0-9]/.test(password)) pool += 10
  if (/[^A-Za-z0-9]/.test(password)) pool += 33
  // repeated characters and runs such as "aaaa", "1234", "abcd" add little
  let effective = 0
  for (let i = 0; i < password.length; i++) {
    const prev = password.charCodeAt(i - 1)
    const code = password.charCodeAt(i)
    effective += i > 0 && (code === prev || code === prev + 1 || code === prev - 1) ? 0.25 : 1
  }
  let bits = effective * Math.log2(Math.max(pool, 2))
  const lower = password.toLowerCase()
  let hint: string | undefined
  if (COMMON.some(word => lower.includes(word))) {
    bits = Math.min(bits, 20)
    hint = 'It contains a very common password.'
  }
  const score = (bits < 28 ? 0 : bits < 40 ? 1 : bits < 60 ? 2 : bits < 80 ? 3 : 4) as Strength['score']
  if (hint === undefined && score < 3) hint = 'Longer is better: several unrelated words make a strong, memorable password.'
  return { score, label: LABELS[score], bits: Math.round(bits), ...(hint === undefined ? {} : { hint }) }
}
