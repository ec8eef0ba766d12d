"""English left on a page or in an email written in another language (issue 17).

``visible_chunks`` cuts a page into the texts a reader sees, block by block (a paragraph, a table
cell, a button...), without machine values (``<code>``, ``<pre>``, ``<kbd>``, ``<samp>``), scripts,
styles, what the user typed (``<textarea>``) and what is marked as not to translate
(``translate="no"``) or as English (``lang="en"``, the switcher's "English"); the texts of the
``title``, ``aria-label``, ``placeholder`` and ``alt`` attributes and of buttons' ``value`` are
chunks too.

``english`` says whether a chunk reads as English: at least two English function words (the, and,
of, to, is, your...) as whole words. French shares none of them ("on", "an" and "or" are French words
too, so they do not count); a proper noun or a code (``in-toto``, ``model_card``) is one word, and a
label of one or two words is caught by ``UntranslatedMessages`` instead.

``UserData`` is the database's English: people's names, model names, descriptions, findings... a
chunk's parts found in it are not the portal's words and are taken out before the check.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

FUNCTION_WORDS = frozenset(
    "the and of to in is are was were be been being has have had do does did will would can cannot could "
    "must should may your you we our us with for this that these those not no from by it its at as which "
    "there their they them if when than what who how why where here about after before until into over "
    "under out up only also still yet each every any all some other such same own per".split()
)
WORD = re.compile(r"[^\W\d_]+(?:['’_-][^\W\d_]+)*")
SPACES = re.compile(r"\s+")

EXEMPT = {"script", "style", "code", "pre", "kbd", "samp", "textarea", "svg", "template"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
# Inside these a chunk goes on ("The <a>certificate</a> is valid" is one chunk); any other tag ends it.
INLINE = {"a", "abbr", "b", "bdi", "bdo", "br", "cite", "data", "dfn", "em", "i", "mark", "q", "s", "small", "span",
          "strong", "sub", "sup", "time", "u", "var", "wbr", "img"}
TEXT_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


def normalize(text: str) -> str:
    return SPACES.sub(" ", text).strip()


# The other way round, to tell that an English text is not French: French words no English
# sentence has ("a", "son", "pour", "est"... are left out: "a report", "for a son").
FRENCH_WORDS = frozenset(
    "le la les des du une et est sont vous votre vos nous notre pour dans sur avec par qui que ne pas "
    "été cette ces aux au ou où déjà être avoir".split()
)


# A message's placeholders are named in English ("%(who)s", "{label}"); the page shows their values.
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sdfr]|\{[a-z_0-9]+\}")


def function_words(text: str) -> list[str]:
    return [w for w in WORD.findall(PLACEHOLDER.sub(" ", text).lower()) if w in FUNCTION_WORDS]


def english(text: str) -> bool:
    """Whether ``text`` reads as English: two English function words or more."""
    return len(function_words(text)) >= 2


def french(text: str) -> bool:
    """Whether ``text`` reads as French: two French function words or more."""
    return len([w for w in WORD.findall(PLACEHOLDER.sub(" ", text).lower()) if w in FRENCH_WORDS]) >= 2


class VisibleChunks(HTMLParser):
    def __init__(self, skip_lang: str | None = "en"):
        super().__init__(convert_charrefs=True)
        self.skip_lang = skip_lang
        self.stack: list[tuple[str, bool]] = []  # (tag, exempt)
        self.exempt = 0
        self.chunks: list[str] = []
        self.current: list[str] = []
        self.links: list[str] = []

    def _flush(self):
        text = normalize("".join(self.current))
        if text:
            self.chunks.append(text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag not in INLINE:
            self._flush()
        else:
            self.current.append(" " if tag in ("br", "wbr") else "")
        exempt = (tag in EXEMPT or attrs.get("translate") == "no"
                  or (attrs.get("lang") or "").lower().split("-")[0] == self.skip_lang)
        if not self.exempt and not exempt:
            for name in TEXT_ATTRIBUTES:
                if attrs.get(name):
                    self.chunks.append(normalize(attrs[name]))
            if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
                self.chunks.append(normalize(attrs["value"]))
        if tag in VOID:
            return
        self.stack.append((tag, exempt))
        if exempt:
            self.exempt += 1

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack and self.stack[-1][0] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag not in INLINE:
            self._flush()
        if all(t != tag for t, _ in self.stack):
            return
        while self.stack:
            top, exempt = self.stack.pop()
            if exempt:
                self.exempt -= 1
            if top == tag:
                break

    def handle_data(self, data):
        if not self.exempt:
            self.current.append(data)

    def close(self):
        super().close()
        self._flush()


def visible_chunks(html: str, skip_lang: str | None = "en") -> list[str]:
    return parse(html, skip_lang).chunks


def parse(html: str, skip_lang: str | None = "en") -> VisibleChunks:
    """The page's chunks and links; elements in ``skip_lang`` (the switcher's "English") are left out."""
    parser = VisibleChunks(skip_lang)
    parser.feed(html)
    parser.close()
    return parser


def text_chunks(text: str) -> list[str]:
    """A plain-text email's chunks: its paragraphs (lines that are URLs are not text)."""
    return [normalize(p) for p in re.split(r"\n\s*\n", text) if normalize(p)]


class UserData:
    """Strings of the database (or of an email's context) that are people's, not the portal's."""

    MIN_LENGTH = 4

    def __init__(self, values: Iterable[str] = ()):
        # first word -> (text, where its first word starts in it)
        self.by_first_word: dict[str, set[tuple[str, int]]] = defaultdict(set)
        for value in values:
            self.add(value)

    def add(self, value: object) -> None:
        value = str(value)
        # A long text is shown in paragraphs or cut short: each of its lines and sentences is data too.
        for text in {value, *re.split(r"[\n\r]+|(?<=[.!?:;])\s+", value)}:
            text = normalize(text)
            first = WORD.search(text)
            if len(text) >= self.MIN_LENGTH and first:
                self.by_first_word[first.group().lower()].add((text.lower(), first.start()))

    def plus(self, values: Iterable[object]) -> UserData:
        """A copy with ``values`` added (an email's context over the database's texts)."""
        more = UserData()
        for word, texts in self.by_first_word.items():
            more.by_first_word[word] = set(texts)
        for value in values:
            more.add(value)
        return more

    def strip(self, chunk: str) -> str:
        """``chunk`` without the parts of it that are user data."""
        lowered = chunk.lower()
        spans = []
        for match in WORD.finditer(chunk):
            for text, offset in self.by_first_word.get(match.group().lower(), ()):
                start = match.start() - offset
                if start >= 0 and lowered.startswith(text, start):
                    spans.append((start, start + len(text)))
        if not spans:
            return chunk
        keep, last = [], 0
        for start, end in sorted(spans):
            if start > last:
                keep.append(chunk[last:start])
            last = max(last, end)
        keep.append(chunk[last:])
        return " ".join(keep)


def english_left(chunks: Iterable[str], user_data: UserData,
                 untranslated: UntranslatedMessages | None = None) -> list[str]:
    """The chunks that are English once user data is taken out of them."""
    found = []
    for chunk in chunks:
        if english(chunk):
            if english(user_data.strip(chunk)):
                found.append(chunk)
        elif untranslated is not None and untranslated.contains(chunk) and WORD.search(user_data.strip(chunk)):
            found.append(chunk)
    return found


class UntranslatedMessages:
    """A short label left in English: a chunk that is, word for word, a message of the catalogue
    whose translation differs, and no translation of another message ("Description" stays)."""

    def __init__(self, po: Path):
        from tests.portal.test_catalogue import parse_po

        entries = parse_po(po)
        french = {normalize(s) for e in entries for s in e["msgstr"] if s}
        self.messages = {normalize(e["msgid"]) for e in entries
                         if "%" not in e["msgid"] and "{" not in e["msgid"] and "<" not in e["msgid"]
                         and e["msgstr"] != [e["msgid"]] and WORD.search(e["msgid"])} - french

    def contains(self, chunk: str) -> bool:
        return normalize(chunk).rstrip(":").strip() in self.messages
