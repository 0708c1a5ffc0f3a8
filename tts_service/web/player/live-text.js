/* Live mode's text, as pure functions (no page, no socket): what a keystroke adds to a turn,
 * a canned reply cut into tokens, and the server's code-point offsets as JavaScript string
 * indexes (UTF-16: a character outside the Basic Multilingual Plane, an emoji say, is two). */

/** The code points of `text`: its length as the server counts it. */
export function codePointLength(text) {
  let length = 0;
  for (const _ of text) length += 1;
  return length;
}

/** The UTF-16 index in `text` of code point `offset` (clamped to the text). */
export function utf16Index(text, offset) {
  let index = 0;
  let seen = 0;
  for (const character of text) {
    if (seen >= offset) break;
    index += character.length;
    seen += 1;
  }
  return index;
}

/** `text` cut at code point `offset`: [before, after]. */
export function splitAt(text, offset) {
  const index = utf16Index(text, offset);
  return [text.slice(0, index), text.slice(index)];
}

/** What an edit added to a turn whose text so far is `sent`: the new tail when `value` still
 * begins with `sent` ("" when nothing changed), null when it changed text already sent. */
export function appendedText(sent, value) {
  return value.startsWith(sent) ? value.slice(sent.length) : null;
}

/** A reply cut the way a language model writes it: tokens of about `size` characters (whole
 * code points), each word's leading space kept with it; joined, they give `text` back. */
export function replayTokens(text, size = 4) {
  const tokens = [];
  for (const word of text.match(/\s*\S+|\s+/g) || []) {
    const characters = Array.from(word);
    for (let i = 0; i < characters.length; i += size) {
      tokens.push(characters.slice(i, i + size).join(""));
    }
  }
  return tokens;
}

/** How many of `count` tokens are due `elapsedMs` after the replay began at `rate` tokens per
 * second: the first at once, then one every 1/rate seconds. */
export function tokensDue(elapsedMs, rate, count) {
  return Math.min(count, Math.floor((elapsedMs * rate) / 1000) + 1);
}
