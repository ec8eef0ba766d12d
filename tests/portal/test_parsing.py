"""portal.parsing (JSON and YAML with size and depth limits) and portal.parsers (the API's
JSON parser and body errors), and the guards that keep every input going through them."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
import yaml
from django.urls import URLResolver, get_resolver
from rest_framework import exceptions, parsers, serializers
from rest_framework.views import APIView

from portal import parsers as portal_parsers
from portal.parsing import DEFAULT_MAX_DEPTH, ParseError, json_depth_exceeds, load_json, load_yaml

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def nested(depth: int, opener="[", closer="]") -> str:
    return opener * depth + closer * depth


# --- load_json ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 100_000, "[" * 100_000 + "]" * 100_000,
                                  '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deep_json_is_a_parse_error_not_a_recursion_error(text):
    with pytest.raises(ParseError) as info:
        load_json(text, max_bytes=10 * MB)
    assert info.value.kind == ParseError.TOO_DEEP
    assert str(info.value) == f"The JSON is nested more than {DEFAULT_MAX_DEPTH} levels deep."


def test_json_at_the_depth_limit_is_read_and_one_more_is_not():
    assert load_json(nested(5), max_bytes=MB, max_depth=5) == [[[[[]]]]]
    assert load_json('{"a": {"b": [1]}}', max_bytes=MB, max_depth=3) == {"a": {"b": [1]}}
    with pytest.raises(ParseError, match="nested more than 2 levels"):
        load_json('{"a": {"b": [1]}}', max_bytes=MB, max_depth=2)
    assert load_json("7", max_bytes=MB, max_depth=0) == 7


def test_brackets_inside_strings_do_not_count():
    text = '{"a": "[[[[{{{{\\" [[[[ \\\\", "b": ["]]]]"]}'
    assert load_json(text, max_bytes=MB, max_depth=2) == {"a": '[[[[{{{{" [[[[ \\', "b": ["]]]]"]}


def test_depth_scan_is_linear_on_hostile_strings():
    # Many quotes and escapes, and an unterminated string: a backtracking scan would take minutes.
    for text in ('"\\"' * 300_000, '"' + "\\" * 1_000_001, '["' + 'a\\"' * 300_000):
        started = time.perf_counter()
        assert json_depth_exceeds(text, 64) is False
        assert time.perf_counter() - started < 2
        with pytest.raises(ParseError) as info:
            load_json(text, max_bytes=10 * MB)
        assert info.value.kind == ParseError.SYNTAX


def test_size_limit_counts_bytes():
    assert load_json('"' + "é" * 10 + '"', max_bytes=22) == "é" * 10
    with pytest.raises(ParseError) as info:
        load_json('"' + "é" * 10 + '"', max_bytes=21)
    assert info.value.kind == ParseError.TOO_LARGE and "limit" in str(info.value)


def test_syntax_errors_say_where():
    with pytest.raises(ParseError) as info:
        load_json('{\n  "a": 1,\n  "b": }', max_bytes=MB)
    assert (info.value.kind, info.value.line, info.value.column) == (ParseError.SYNTAX, 3, 8)
    assert "line 3, column 8" in str(info.value)


def test_bytes_are_utf8_with_an_optional_bom():
    assert load_json(b'\xef\xbb\xbf{"a": "\xc3\xa9"}', max_bytes=MB) == {"a": "é"}
    with pytest.raises(ParseError) as info:
        load_json(b'{"a": "\xff"}', max_bytes=MB)
    assert info.value.kind == ParseError.ENCODING and "position 7" in str(info.value)


def test_duplicate_keys_only_when_asked():
    assert load_json('{"a": 1, "a": 2}', max_bytes=MB) == {"a": 2}
    with pytest.raises(ParseError) as info:
        load_json('{"a": 1, "b": {"a": 3, "a": 2}}', max_bytes=MB, unique_keys=True)
    assert info.value.kind == ParseError.DUPLICATE_KEY and '"a"' in str(info.value)


def test_nan_only_when_asked():
    with pytest.raises(ParseError, match="NaN"):
        load_json("[NaN]", max_bytes=MB)
    assert load_json("[Infinity]", max_bytes=MB, allow_nan=True) == [float("inf")]


def test_parse_error_is_a_value_error():
    # Callers that caught ValueError from json.loads keep working.
    with pytest.raises(ValueError):
        load_json("nope", max_bytes=MB)


# --- load_yaml ----------------------------------------------------------------------------------------


DOCUMENT = """
license: apache-2.0
tags: [a, b]
base: &base {x: 1}
derived:
  <<: *base
  y: [2, {z: 3}]
when: 2025-01-02
"""


def test_yaml_loads_as_safe_load_does():
    assert load_yaml(DOCUMENT, max_bytes=MB) == yaml.safe_load(DOCUMENT)
    assert load_yaml("", max_bytes=MB) is None


@pytest.mark.parametrize("text", [
    "a: " + "[" * 100_000,
    "a: " + "{b: " * 100_000,
    "".join(" " * i + "k:\n" for i in range(200)),
    "".join(" " * i + "-\n" for i in range(200)),
])
def test_deep_yaml_is_a_parse_error_not_a_recursion_error(text):
    with pytest.raises(ParseError) as info:
        load_yaml(text, max_bytes=10 * MB)
    assert info.value.kind == ParseError.TOO_DEEP
    assert "nested more than" in str(info.value)


def test_yaml_at_the_depth_limit_is_read():
    assert load_yaml("a: [[1]]", max_bytes=MB, max_depth=3) == {"a": [[1]]}
    with pytest.raises(ParseError, match="nested more than 2 levels"):
        load_yaml("a: [[1]]", max_bytes=MB, max_depth=2)


def test_yaml_aliases_count_their_expansion():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(ParseError) as info:
        load_yaml("\n".join(lines), max_bytes=MB)
    assert info.value.kind == ParseError.ALIASES
    assert load_yaml("\n".join(lines[:3]), max_bytes=MB)["a2"][0][0] == ["x"] * 10


def test_yaml_aliases_count_their_depth():
    # Each alias nests the previous anchor one level deeper: the document is 20 deep.
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 20)]
    with pytest.raises(ParseError, match="nested more than 10 levels"):
        load_yaml("\n".join(lines), max_bytes=MB, max_depth=10)


def test_a_yaml_alias_inside_itself_is_refused():
    with pytest.raises(ParseError) as info:
        load_yaml("a: &a [1, *a]", max_bytes=MB)
    assert info.value.kind == ParseError.ALIASES


def test_yaml_syntax_errors_say_where():
    with pytest.raises(ParseError) as info:
        load_yaml("license: mit\n  bad: indent\n", max_bytes=MB)
    assert (info.value.kind, info.value.line) == (ParseError.SYNTAX, 2)


def test_yaml_size_limit():
    with pytest.raises(ParseError) as info:
        load_yaml("a: " + "b" * 100, max_bytes=50)
    assert info.value.kind == ParseError.TOO_LARGE


def test_yaml_tags_stay_safe():
    with pytest.raises(ParseError):
        load_yaml("!!python/object/apply:os.system ['true']", max_bytes=MB)


# --- the API's parser and body errors -----------------------------------------------------------------


def test_api_parser_reads_json_and_refuses_deep_or_large_bodies(settings):
    parser = portal_parsers.JSONParser()
    assert parser.parse(io.BytesIO(b'{"a": [1]}')) == {"a": [1]}
    with pytest.raises(exceptions.ParseError, match="nested"):
        parser.parse(io.BytesIO(b"[" * 100_000))
    with pytest.raises(exceptions.ParseError, match="not valid"):
        parser.parse(io.BytesIO(b"{not json"))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    with pytest.raises(portal_parsers.RequestTooLarge) as info:
        parser.parse(io.BytesIO(b'{"a": "0123456789"}'))
    assert info.value.status_code == 413


def test_api_json_field_reads_form_text_with_the_limits():
    field = portal_parsers.JSONField(binary=True)
    assert field.to_internal_value('{"a": 1}') == {"a": 1}
    with pytest.raises(serializers.ValidationError, match="nested"):
        field.to_internal_value("[" * 100_000)


def test_a_large_form_body_is_answered_in_json(db, settings, client_for, org_member):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client_for(org_member).post("/api/v1/organizations/", {"name": "x" * 1000})
    assert response.status_code == 413, response.content[:200]
    assert "larger than" in response.json()["detail"]


def test_too_many_form_fields_are_answered_in_json(db, settings, client_for, org_member):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    response = client_for(org_member).post("/api/v1/organizations/", {f"f{i}": "x" for i in range(10)})
    assert response.status_code == 400 and "detail" in response.json()


# --- guards: every input goes through the helpers ----------------------------------------------------


def _api_views():
    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
                continue
            view = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
            if view is not None and issubclass(view, APIView):
                yield view, getattr(pattern.callback, "actions", None) or {}

    return list(walk(get_resolver().url_patterns))


def test_every_api_view_reads_json_with_the_portal_parser():
    views = _api_views()
    assert len(views) > 20
    for view, actions in views:
        parser_lists = [(view.__name__, view.parser_classes)]
        for action_name in set(actions.values()):
            handler = getattr(view, action_name, None)
            extra = getattr(handler, "kwargs", {}).get("parser_classes")
            if extra:
                parser_lists.append((f"{view.__name__}.{action_name}", extra))
        for where, parser_classes in parser_lists:
            for parser in parser_classes:
                if issubclass(parser, parsers.JSONParser):
                    assert issubclass(parser, portal_parsers.JSONParser), (
                        f"{where} reads JSON with {parser.__module__}.{parser.__name__}: "
                        "use portal.parsers.JSONParser (size and depth limits)")


def test_no_api_serializer_parses_json_text_without_the_limits():
    for view, _actions in _api_views():
        serializer_class = getattr(view, "serializer_class", None)
        if serializer_class is None:
            continue
        for name, field in serializer_class().fields.items():
            if isinstance(field, serializers.JSONField) and not field.read_only:
                assert isinstance(field, portal_parsers.JSONField), (
                    f"{serializer_class.__name__}.{name} is a DRF JSONField, which json.loads form text without "
                    "limits: declare it with portal.parsers.JSONField or a precise field")


# Reading JSON or YAML from outside goes through portal.parsing; these read the portal's own data.
TRUSTED_LOADS = {
    "portal/audit.py": "json.loads(json.dumps(...)) normalizes a payload the portal built",
    "certification/certificates/keys.py": "the key validity file the portal wrote",
    "certification/certificates/registry.py": "an attestation the portal signed and stored",
    "auditors/assignment/facts.py": "a JSON column of the portal's own database, read as text for speed",
    "certification/certificates/export.py": "the export's own files and the attestations the portal signed",
}
LOAD_CALL = re.compile(r"\b(?:json\.loads?|yaml\.(?:safe_load|load|full_load|unsafe_load|load_all|safe_load_all))\(")


def test_json_and_yaml_are_read_only_through_portal_parsing():
    offenders = []
    for package in ("portal", "certification", "auditors"):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if relative == "portal/parsing.py" or "/migrations/" in relative:
                continue
            hits = [n for n, line in enumerate(path.read_text("utf-8").splitlines(), 1) if LOAD_CALL.search(line)]
            if hits and relative not in TRUSTED_LOADS:
                offenders.append(f"{relative}:{hits}")
    assert not offenders, f"read JSON/YAML with portal.parsing.load_json/load_yaml: {offenders}"
