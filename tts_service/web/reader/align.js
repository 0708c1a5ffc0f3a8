/* Which displayed word each of the server's words is. The server sends the input's words as
 * written, markup removed; the page shows the words split at spaces. Both are compared without
 * case, punctuation and markup, in order: a displayed word may hold several server words
 * ("well-known" as two), and a server word that matches nothing nearby is left unplaced. */

const LOOKAHEAD = 8;

export function normalize(word) {
  return word.toLowerCase().normalize("NFKD").replace(/[^\p{L}\p{N}]/gu, "");
}

/** A cursor over the displayed words [first, end) of one part; `place` is called with each
 * server word in order and returns the global index of its displayed word, or -1. */
export function aligner(article, first, end) {
  let next = first;
  let rest = null; // what is left of the displayed word `next` after a partial match
  const shown = (index) => normalize(article.words[index].shown);
  return {
    place(serverWord) {
      const wanted = normalize(serverWord);
      if (!wanted) return -1;
      if (rest !== null && rest.startsWith(wanted)) {
        const index = next;
        rest = rest.slice(wanted.length);
        if (!rest) { next += 1; rest = null; }
        return index;
      }
      for (let index = rest !== null ? next + 1 : next; index < Math.min(end, next + LOOKAHEAD); index++) {
        const word = shown(index);
        if (word === wanted) {
          next = index + 1;
          rest = null;
          return index;
        }
        if (word.startsWith(wanted) || (wanted.startsWith(word) && word)) {
          next = index;
          rest = word.startsWith(wanted) ? word.slice(wanted.length) : "";
          if (!rest) { next += 1; rest = null; }
          return index;
        }
      }
      return -1;
    },
  };
}
