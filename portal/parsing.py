"""Reading JSON and YAML from outside: uploads, API bodies, files given to commands.

Every such input is read here, with a size limit and a nesting limit, and every failure is
one ``ParseError`` (a ValueError) whose message can be shown to the person who sent the
input. Python's own parsers recurse once per nesting level: ``json.loads("[" * 100_000)``
raises RecursionError and PyYAML's composer does the same, so an unchecked parse of a
hostile file is a server error. Here the depth of JSON is measured before parsing, without
recursion; YAML is composed with a depth count, and its aliases may neither loop nor expand
past ``max_nodes`` values (the "billion laughs").

    load_json(data, *, max_bytes, max_depth=DEFAULT_MAX_DEPTH, unique_keys=False, allow_nan=False)
    load_yaml(data, *, max_bytes, max_depth=DEFAULT_MAX_DEPTH, max_nodes=DEFAULT_MAX_NODES)

Depth counts nested arrays and objects (lists and mappings): a scalar is at depth 0,
``[]`` has depth 1, ``{"a": [1]}`` depth 2.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

DEFAULT_MAX_DEPTH = 64
DEFAULT_MAX_NODES = 200_000

# A JSON string, escapes included; an unterminated one runs to the end of the text. Possessive,
# and it always matches from a quote, so the scan is linear whatever the input.
_JSON_STRING = re.compile(r'"(?:[^"\\]+|\\.?)*+(?:"|\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class ParseError(ValueError):
    """Input that cannot be read. ``str(exc)`` is a sentence for the sender; ``kind`` is one
    of the constants below; ``problem``, ``line`` and ``column`` (from 1) locate a syntax
    error when the parser knows where it is."""

    TOO_LARGE = "too_large"
    ENCODING = "encoding"
    TOO_DEEP = "too_deep"
    SYNTAX = "syntax"
    DUPLICATE_KEY = "duplicate_key"
    ALIASES = "aliases"

    def __init__(self, kind: str, message: str, *, problem: str = "", line: int | None = None,
                 column: int | None = None, limit: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.problem = problem or message
        self.line = line
        self.column = column
        self.limit = limit


def _text(data: bytes | str, max_bytes: int, what: str) -> str:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ParseError(ParseError.TOO_LARGE,
                         _("The %(what)s is larger than the limit of %(limit)s.")
                         % {"what": what, "limit": filesizeformat(max_bytes)}, limit=max_bytes)
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ParseError(ParseError.ENCODING,
                         _("The %(what)s is not UTF-8 text (invalid byte at position %(pos)d).")
                         % {"what": what, "pos": exc.start}) from None


def _too_deep(what: str, max_depth: int) -> ParseError:
    return ParseError(ParseError.TOO_DEEP,
                      _("The %(what)s is nested more than %(n)d levels deep.") % {"what": what, "n": max_depth},
                      limit=max_depth)


def json_depth_exceeds(text: str, max_depth: int) -> bool:
    """Whether the arrays and objects of ``text`` nest deeper than ``max_depth``, found
    without parsing: strings are dropped, then the brackets left are counted in one pass."""
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def load_json(data: bytes | str, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH, unique_keys: bool = False,
              allow_nan: bool = False) -> Any:
    """The value of a JSON document, or ParseError.

    ``unique_keys``: refuse an object with the same key twice (two parsers could keep
    different ones). ``allow_nan``: accept NaN and Infinity, which JSON does not have but
    Python's json module writes."""
    what = _("JSON")
    text = _text(data, max_bytes, what)
    if json_depth_exceeds(text, max_depth):
        raise _too_deep(what, max_depth)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result = dict(items)
        if len(result) != len(items):
            seen: set[str] = set()
            for key, _value in items:
                if key in seen:
                    break
                seen.add(key)
            raise ParseError(ParseError.DUPLICATE_KEY, _("The JSON has the key %(key)s twice.")
                             % {"key": json.dumps(key[:100])})
        return result

    def constant(name: str):
        raise ParseError(ParseError.SYNTAX, _("The JSON contains %(name)s, which JSON does not allow.")
                         % {"name": name}, problem=_("%(name)s is not allowed") % {"name": name})

    try:
        return json.loads(text, object_pairs_hook=pairs if unique_keys else None,
                          parse_constant=None if allow_nan else constant)
    except json.JSONDecodeError as exc:
        raise ParseError(ParseError.SYNTAX,
                         _("The JSON is not valid: %(problem)s (line %(line)d, column %(column)d).")
                         % {"problem": exc.msg, "line": exc.lineno, "column": exc.colno},
                         problem=exc.msg, line=exc.lineno, column=exc.colno) from None
    except RecursionError:
        # Only if the caller's stack was already deep: the depth was checked above.
        raise _too_deep(what, max_depth) from None


# --- YAML -------------------------------------------------------------------------------------------


class _DepthLimitedLoader(yaml.SafeLoader):
    """The safe loader, counting nested collections while it composes (PyYAML's composer
    recurses once per level). The pure-Python loader on purpose: libyaml's composer is C."""

    def __init__(self, stream, max_depth: int):
        super().__init__(stream)
        self.max_depth = max_depth
        self.depth = 0

    def compose_node(self, parent, index):
        collection = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if collection:
            self.depth += 1
            if self.depth > self.max_depth:
                raise _too_deep(_("YAML"), self.max_depth)
        try:
            return super().compose_node(parent, index)
        finally:
            if collection:
                self.depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: yaml.Node, max_depth: int, max_nodes: int) -> None:
    """Depth and size of the document once aliases are expanded, in one pass over the
    composed nodes (each measured once, without recursion); a node inside itself is refused."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (depth, values)
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            children = [measured[id(child)] for child in _children(node)]
            depth = 1 + max((d for d, _n in children), default=0) if isinstance(node, yaml.CollectionNode) else 0
            values = 1 + sum(n for _d, n in children)
            if depth > max_depth:
                raise _too_deep(_("YAML"), max_depth)
            if values > max_nodes:
                raise ParseError(ParseError.ALIASES,
                                 _("The YAML has more than %(n)d values (an alias counts as many as it repeats).")
                                 % {"n": max_nodes}, limit=max_nodes)
            measured[key] = (depth, values)
            continue
        if key in measured:
            continue
        if key in open_nodes:
            raise ParseError(ParseError.ALIASES, _("The YAML has an alias inside the value it refers to."))
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in measured)


def load_yaml(data: bytes | str, *, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH,
              max_nodes: int = DEFAULT_MAX_NODES) -> Any:
    """The value of one YAML document, loaded as ``yaml.safe_load`` does, or ParseError."""
    text = _text(data, max_bytes, _("YAML"))
    loader = _DepthLimitedLoader(text, max_depth)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, max_depth, max_nodes)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is not None:
            raise ParseError(ParseError.SYNTAX,
                             _("The YAML is not valid: %(problem)s (line %(line)d, column %(column)d).")
                             % {"problem": problem, "line": mark.line + 1, "column": mark.column + 1},
                             problem=problem, line=mark.line + 1, column=mark.column + 1) from None
        raise ParseError(ParseError.SYNTAX, _("The YAML is not valid: %(problem)s.") % {"problem": problem},
                         problem=problem) from None
    except RecursionError:
        raise _too_deep(_("YAML"), max_depth) from None
    finally:
        loader.dispose()
