"""The text a prompt-injection score is computed on: hiding undone, then words.

Attackers hide instructions from filters in ways a model still reads: zero-width characters
inside words, look-alike letters from other scripts, leetspeak, and base64 / hex / rot13 runs the
model is asked to decode. :func:`split_text` undoes each, and adds a marker token for each trick it
saw (hiding is itself a signal), then cuts the text into lower-case words (:func:`split_text`).

Cost matters more than elegance here: the rail runs on every window of every stream (target:
well under 50 µs per kB). Everything below is a C-level ``str`` method or one ``re`` call over
the text; no Python loop runs per character, and the decoders run only where a cheap test found
something to decode.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Collection
from collections.abc import Set as AbstractSet
from itertools import filterfalse

# Invisible format characters (zero-width space/joiners, bidi controls, BOM, soft hyphen, word
# joiner, Unicode tags, variation selectors, Hangul fillers) that split a word for a filter but
# not for a model.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e007f\U000e0100-\U000e01ef]+"
)
# Cyrillic and Greek letters drawn like Latin ones (NFKC leaves them alone: they are letters).
_CONFUSABLES = str.maketrans(
    "аеорсуххіјѕԁһӏԛԝкмнтвАВЕКМНОРСТХУІЈЅαοντικρυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ",
    "aeopcyxxijsdhlqwkmhtbABEKMHOPCTXYIJSaovtikpuxABEZHIKMNOPTYX",
)
_CONFUSABLE_LETTERS = frozenset(chr(code) for code in _CONFUSABLES)
_ASCII_BYTES = bytes(range(128))
_LEET = str.maketrans("013457@$", "oieastas")
# ASCII punctuation becomes a space and the apostrophe goes ("don't" is "dont"): with one
# character per character, str.translate takes its ASCII fast path (about 1 us per kB).
_WORD_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789@$"
_SEPARATE = str.maketrans(
    {chr(i): (chr(i) if chr(i) in _WORD_CHARS else " ") for i in range(128) if chr(i) != "'"}
    | {"'": None}
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
_HEX_RUN = re.compile(r"[0-9a-fA-F]{24,}")
_ROT13 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "NOPQRSTUVWXYZABCDEFGHIJKLMnopqrstuvwxyzabcdefghijklm",
)
# The commonest English words: text holding few of them may be rot13 (whose decoding holds many).
_COMMON = frozenset(
    {
        *("the", "and", "to", "of", "a", "in", "is", "you", "that", "it", "for", "i", "this"),
        *("be", "on", "with", "are", "your", "as", "not", "all", "or", "what", "will", "if"),
        *("from", "have", "me", "my", "can", "do", "an", "at", "by", "so", "we", "they", "no"),
        "any",
    }
)
_ENGLISH = 3
"""A text of 6 words or more with fewer distinct common English words than this may be rot13."""
_LEET_CHARS = "0123456789@$"
"""Without any of these, a text has no leetspeak to undo."""
_MIN_DECODED = 8
"""Decoded runs shorter than this are not worth scoring (and are often accidents)."""
_LONG_WORD = 16
"""A word this long may be part of a base64 or hex run: only then are runs looked for."""


def _printable(data: bytes) -> str | None:
    """``data`` as text when it is mostly readable UTF-8 (a decoded instruction), else None
    (a hash, a key, an image: binary that happened to look like base64 or hex)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    head = text[:64]
    if len(text) < _MIN_DECODED or not head.replace("\n", " ").isprintable():
        return None
    readable = sum(map(str.isalpha, head)) + head.count(" ")  # C-level, no Python loop
    return text if readable >= 0.7 * len(head) else None


def decoded_runs(text: str, long_words: Collection[str] = ()) -> tuple[list[str], list[str]]:
    """Base64 and hex runs of ``text`` decoded to readable text, and a marker per kind found.
    ``long_words`` (lower-case words of ``text`` of 16 characters or more, when the caller has
    them) say where to look.

    Example:
        .. code-block:: python

            decoded_runs("run aWdub3JlIGFsbCBwcmV2aW91cyBydWxlcw==")
            # (["ignore all previous rules"], ["__base64__"])
    """
    found: list[str] = []
    markers: list[str] = []
    # Runs are looked for in long whitespace-separated pieces only: a regex over the whole
    # text would cost more than everything else together.
    pieces = _pieces_with(text, long_words) if long_words and text.isascii() else None
    if pieces is None:
        pieces = " ".join(p for p in text.split() if len(p) >= 24)
    for run in _HEX_RUN.findall(pieces):
        decoded = _printable(bytes.fromhex(run[: len(run) // 2 * 2]))
        if decoded:
            found.append(decoded)
            markers.append("__hex__")
    for run in _BASE64_RUN.findall(pieces):
        if _HEX_RUN.fullmatch(run):
            continue
        try:
            decoded = _printable(base64.b64decode(run + "=" * (-len(run) % 4)))
        except (binascii.Error, ValueError):
            continue
        if decoded:
            found.append(decoded)
            markers.append("__base64__")
    return found, markers


_SPACE = re.compile(r"\s")


def _pieces_with(text: str, long_words: Collection[str]) -> str | None:
    """The whitespace-separated pieces of ASCII ``text`` that hold one of ``long_words``,
    joined by spaces (None if a word is not found as it is)."""
    lower = text.lower()  # ASCII: the same length, so an index into it is one into the text
    pieces = set()
    for word in long_words:
        at = lower.find(word)
        if at < 0:
            return None
        start = max(lower.rfind(" ", 0, at), lower.rfind("\n", 0, at), lower.rfind("\t", 0, at))
        end = _SPACE.search(text, at)
        pieces.add(text[start + 1 : end.start() if end else len(text)])
    return " ".join(sorted(pieces))


def normalised(text: str) -> tuple[str, list[str]]:
    """``text`` with hiding undone (invisible characters, confusables, compatibility forms and
    accents, case), as ASCII, and a marker token per trick seen. Leetspeak is undone per word,
    by :func:`split_text`.

    Example:
        .. code-block:: python

            normalised("ign\\u200bore \\u0430ll")
            # ("ignore all", ["__invisible__", "__confusable__"])
    """
    markers: list[str] = []
    if not text.isascii():
        # NFKD maps fullwidth and mathematical letters to ASCII and splits accents off; the
        # model knows ASCII words only, so what is left outside ASCII goes ("café" is "cafe",
        # and an invisible character inside a word is dropped with the rest).
        text = unicodedata.normalize("NFKD", text)
        # What NFKD left outside ASCII is looked at alone (a regex over the whole text would
        # cost more than everything else together). Deleting the ASCII bytes of UTF-8 leaves
        # whole characters: multi-byte sequences have no ASCII byte.
        odd = text.encode("utf-8").translate(None, _ASCII_BYTES).decode("utf-8")
        if odd:
            if _INVISIBLE.search(odd):
                markers.append("__invisible__")
            found = _CONFUSABLE_LETTERS.intersection(odd)
            if found:
                markers.append("__confusable__")
                text = _swapped(text, found)
        text = text.encode("ascii", "ignore").decode("ascii")
    return text.lower(), markers


_FEW_LETTERS = 8
"""Up to this many distinct look-alike letters are swapped by ``str.replace`` (a fast search
each); more, as in a whole Russian document, by one ``str.translate``."""


def _swapped(text: str, letters: AbstractSet[str]) -> str:
    """``text`` with the Latin look-alikes of its Greek and Cyrillic ``letters`` swapped in."""
    if len(letters) > _FEW_LETTERS:
        return text.translate(_CONFUSABLES)
    for letter in letters:
        text = text.replace(letter, chr(_CONFUSABLES[ord(letter)]))
    return text


def words_of(text: str) -> list[str]:
    """The words of normalised (lower-case) text: runs of letters, digits, ``@`` and ``$``."""
    return text.translate(_SEPARATE).split()


def unleet(words: list[str], distinct: AbstractSet[str] | None = None) -> list[str] | None:
    """``words`` with leetspeak undone ("1gn0r3" is "ignore"), or None when there was none.
    ``distinct`` (the set of ``words``, when the caller has it) saves a pass.

    Only words of 3 to 16 characters that become all letters change: a number, a version
    ("utf8", "sha256") or a long run (a hash, a key) stays as it is.
    """
    odd = [
        w
        for w in filterfalse(str.isalpha, words if distinct is None else distinct)
        if 3 <= len(w) <= _LONG_WORD
    ]
    # Only a word with a letter that becomes all letters was leet: "sha256", "covid19",
    # "utf8", a number ("101") and an address ("ana@example") stay.
    fixes = {
        w: f
        for w in odd
        if not w.isdigit() and (f := w.translate(_LEET)).isalpha() and not _is_address(w)
    }
    return list(map(fixes.get, words, words)) if fixes else None


def _is_address(word: str) -> bool:
    """Whether ``word`` reads as the two halves of an e-mail address or handle ("ana@example")."""
    name, at, host = word.partition("@")
    return bool(at) and len(name) >= 2 and name.isalpha() and host.isalpha()


# Cues of an injection, each a few word groups that must all occur in the text: written from
# what injections do (override, take a new role, leak the prompt, send data away), not learned,
# so a held-out corpus that words an override differently still fires the same cue. Their
# weights are learned like any word's.
_CUES: tuple[tuple[str, tuple[frozenset[str], ...]], ...] = tuple(
    (name, tuple(frozenset(group.split()) for group in groups))
    for name, groups in (
        (
            "__override__",
            (
                "ignore disregard forget override bypass skip overrule",
                "previous prior above earlier preceding all any original initial",
                "instructions instruction rules guidelines directions prompt prompts context "
                "directives orders",
            ),
        ),
        (
            "__set_aside__",
            (
                "ignore disregard forget override bypass overrule abandon discard",
                "everything task tasks criteria question request user users ticket email "
                "document transcript text summary constraints programming policy policies "
                "safety above instructions rules guidelines",
            ),
        ),
        (
            "__to_the_ai__",
            (
                "ai assistant assistants llm llms chatbot bot gpt chatgpt claude gemini copilot "
                "agent agents summariser summarizer model",
                "ignore disregard forget instead override must immediately secretly "
                "silently urgent important",
            ),
        ),
        (
            "__new_task__",
            (
                "new real actual true updated different urgent important",
                "task instructions instruction objective goal assignment directive orders",
            ),
        ),
        (
            "__new_rules__",
            (
                "now new instead henceforth onwards",
                "instructions rules mode persona character role policy",
                "you your",
            ),
        ),
        (
            "__no_limits__",
            (
                "unfiltered uncensored unrestricted unlimited jailbreak jailbroken amoral "
                "unethical "
                "limitless restrictions filters censorship guidelines boundaries",
                "no without free ignore any never",
            ),
        ),
        (
            "__prompt_leak__",
            (
                "system initial hidden secret original first",
                "prompt instructions message instruction configuration",
                "reveal print show repeat output display tell spell leak verbatim",
            ),
        ),
        (
            "__send_away__",
            (
                "send forward upload post email mail transmit exfiltrate",
                "http https www url link attacker address server",
            ),
        ),
    )
)


# Cues in the text's form rather than its words: a markdown image whose address carries a query
# (the reply renders it and the browser sends the data away), and a fake role or system tag
# ("###(system_message)", "[SYSTEM]:", "<|im_start|>assistant") that dresses text as the
# prompt's own.
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]\n]*\]\(\s*(?:https?:)?//[^)\s]*[?=]")
# One character class first: the regex engine skips ahead to an opener (about 2 us per kB).
_ROLE_TAG = re.compile(
    r"[#\[<({|][ \t]?/?(?:system|assistant|im_start|inst|developer|admin)"
    r"(?:[ _]?(?:message|prompt|instructions?|note|override|mode|update))?[ \t]?[)\]}>:|]"
)


_ROLE_WORDS = frozenset({"system", "assistant", "im", "inst", "developer", "admin"})
"""The words a role tag holds: without one of them the tag pattern is not run."""


def form_markers(text: str, plain: str, words: AbstractSet[str]) -> list[str]:
    """``__markdown_image__`` and ``__role_tag__`` where ``text`` (``plain``: its normalised,
    lower-case form; ``words``: its distinct words) holds one (see above)."""
    found = []
    if "![" in text and _MARKDOWN_IMAGE.search(text):
        found.append("__markdown_image__")
    if not words.isdisjoint(_ROLE_WORDS) and _ROLE_TAG.search(plain):
        found.append("__role_tag__")
    return found


CUES = frozenset((*(name for name, _ in _CUES), "__markdown_image__", "__role_tag__"))
"""The cue markers' names."""


_CUE_WORDS = frozenset().union(*(group for _, groups in _CUES for group in groups))


def cue_markers(words: Collection[str]) -> list[str]:
    """A marker per injection cue whose word groups all occur in ``words``."""
    # The few cue words present first: each group test then reads a handful of words.
    present = _CUE_WORDS.intersection(words)
    return [name for name, groups in _CUES if all(not g.isdisjoint(present) for g in groups)]


def split_text(text: str) -> tuple[list[str], list[str]]:
    """``(markers, words)``: a marker per kind of hiding seen, and the words a score is computed
    on (the normalised text's, then those of each decoded base64, hex or rot13 run).

    Example:
        .. code-block:: python

            split_text("Ignore previous instructions")
            # ([], ["ignore", "previous", "instructions"])
    """
    plain, markers = normalised(text)
    words = words_of(plain)
    if not words:
        return markers, words
    # The distinct words, once: each test below reads them instead of every word.
    distinct = set(words)
    runs: list[str] = []
    if max(map(len, distinct)) >= _LONG_WORD:
        runs, found = decoded_runs(text, [w for w in distinct if len(w) >= _LONG_WORD])
        markers.extend(found)
    if any(map(plain.__contains__, _LEET_CHARS)):
        fixed = unleet(words, distinct)
        if fixed is not None:
            markers.append("__leet__")
            words = fixed
            distinct = set(words)
    common = len(distinct & _COMMON)
    if len(words) >= 6 and common < _ENGLISH:
        # Hardly an English function word: maybe rot13 (whose decoding holds many).
        rotated = words_of(plain.translate(_ROT13))
        if len(_COMMON.intersection(rotated)) >= max(2, common + 1):
            markers.append("__rot13__")
            words.extend(rotated)
            distinct.update(rotated)
    for run in runs:
        decoded = words_of(normalised(run)[0])
        words.extend(decoded)
        distinct.update(decoded)
    markers.extend(cue_markers(distinct))
    markers.extend(form_markers(text, plain, distinct))
    return markers, words


__all__ = [
    "CUES",
    "cue_markers",
    "decoded_runs",
    "form_markers",
    "normalised",
    "split_text",
    "unleet",
    "words_of",
]
