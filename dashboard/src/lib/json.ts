/** Parse JSON text typed by a person; a message naming the problem instead of throwing. */
export function parseJsonInput(text: string): { value: unknown; error?: undefined } | { value?: undefined; error: string } {
  if (!text.trim()) return { value: {} };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (e) {
    return { error: `Not valid JSON: ${(e as Error).message}` };
  }
}
