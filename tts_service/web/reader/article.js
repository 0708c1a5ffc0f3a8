/* The article, pure functions: Markdown headings become chapters (text before the first heading
 * is an untitled first chapter), blank lines split paragraphs, whitespace splits words. Every
 * word has one global index (its element in the reading view); a part of speech is a run of
 * words within one paragraph whose text fits the server's per-request limit. */

const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const MARKUP_EDGES = /^[*_~`>#\[(]+|[*_~`\])]+$/g;

/** { chapters: [{ title, paragraphs: [index] }], paragraphs: [{ chapter, heading, text,
 * firstWord, words: [{ text, shown, start, end }] }], words: [{ paragraph, shown }] } */
export function parseArticle(source) {
  const chapters = [];
  const paragraphs = [];
  const words = [];
  let chapter = null;
  const newChapter = (title) => {
    chapter = { title, paragraphs: [] };
    chapters.push(chapter);
  };
  const addParagraph = (text, heading) => {
    const tokens = [];
    for (const match of text.matchAll(/\S+/g)) {
      const shown = match[0].replace(MARKUP_EDGES, "") || match[0];
      tokens.push({ text: match[0], shown, start: match.index, end: match.index + match[0].length });
    }
    if (!tokens.length) return;
    if (chapter === null) newChapter("");
    const index = paragraphs.length;
    paragraphs.push({ chapter: chapters.length - 1, heading, text, firstWord: words.length, words: tokens });
    for (const token of tokens) words.push({ paragraph: index, shown: token.shown });
    chapter.paragraphs.push(index);
  };
  let lines = [];
  const flush = () => {
    if (lines.length) addParagraph(lines.join("\n").trim(), false);
    lines = [];
  };
  for (const line of source.replace(/\r\n?/g, "\n").split("\n")) {
    const heading = line.match(HEADING);
    if (heading) {
      flush();
      newChapter(heading[2].replace(/[*_`~]+/g, "").trim());
      addParagraph(heading[2], true);
    } else if (!line.trim()) {
      flush();
    } else {
      lines.push(line);
    }
  }
  flush();
  return { chapters, paragraphs, words };
}

/** Where a sentence may end: after . ! ? … (and closing quotes or brackets) before a space. */
function sentenceEnd(word) {
  return /[.!?…]["'”’)\]]*$/.test(word.text);
}

/** The part that starts at global word `first`: the rest of its paragraph if that fits in
 * `limit` characters, else as many whole sentences as fit (a sentence longer than the limit is
 * cut between words). A heading is read with the paragraph after it when both fit.
 * → { paragraph, first, end (exclusive global index), text } */
export function partFrom(article, first, limit) {
  const index = article.words[first].paragraph;
  const paragraph = article.paragraphs[index];
  const local = first - paragraph.firstWord;
  const tokens = paragraph.words;
  const begin = tokens[local].start;
  let end = tokens.length;
  if (tokens[end - 1].end - begin > limit) {
    let lastSentence = -1;
    let lastWord = local;
    for (let i = local; i < tokens.length && tokens[i].end - begin <= limit; i++) {
      lastWord = i;
      if (sentenceEnd(tokens[i])) lastSentence = i;
    }
    end = (lastSentence >= local ? lastSentence : lastWord) + 1;
  }
  const part = {
    paragraph: index,
    first,
    end: paragraph.firstWord + end,
    text: paragraph.text.slice(begin, tokens[end - 1].end),
  };
  const next = article.paragraphs[index + 1];
  if (paragraph.heading && next && !next.heading && next.chapter === paragraph.chapter
    && part.text.length + 2 + next.text.length <= limit) {
    part.end = next.firstWord + next.words.length;
    part.text = `${part.text}\n\n${next.text}`;
  }
  return part;
}

/** Every part of the article in order, from its first word. */
export function allParts(article, limit) {
  const parts = [];
  for (let word = 0; word < article.words.length; ) {
    const part = partFrom(article, word, limit);
    parts.push(part);
    word = part.end;
  }
  return parts;
}

export function chapterOfWord(article, word) {
  return article.paragraphs[article.words[word].paragraph].chapter;
}

/** The first word of the paragraph `step` paragraphs away from the one holding `word`. */
export function paragraphStart(article, word, step) {
  const index = Math.min(Math.max(article.words[word].paragraph + step, 0), article.paragraphs.length - 1);
  return article.paragraphs[index].firstWord;
}

/** The first word of the chapter `step` chapters away (step 0: the start of this chapter). */
export function chapterStart(article, word, step) {
  const index = Math.min(Math.max(chapterOfWord(article, word) + step, 0), article.chapters.length - 1);
  return article.paragraphs[article.chapters[index].paragraphs[0]].firstWord;
}
