// This browser's localStorage, where a private window or a full disk may refuse it: a
// refused read is "nothing stored", a refused write lasts only this page.

/** The string stored under `key`, or null when none is (or storage is refused). */
export function readStored(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

/** One of `allowed` stored under `key`, else `fallback`. */
export function readChoice<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
  const value = readStored(key);
  return allowed.find((a) => a === value) ?? fallback;
}

/** A JSON value stored under `key`, or null when none is or it does not parse. */
export function readJson(key: string): unknown {
  const text = readStored(key);
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

export function writeStored(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // Refused: the choice lasts this page.
  }
}
