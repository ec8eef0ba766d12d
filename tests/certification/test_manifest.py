"""Artifact manifests: computing one for a local directory, checking an uploaded one (DESIGN §7)."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from certification.releases.manifest import ManifestError, build_manifest, parse_manifest

SHA_A = "a" * 64


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def model_dir(tmp_path):
    files = {
        "config.json": b'{"model_type": "llama"}',
        "model-00001-of-00002.safetensors": b"\x00\x01" * 5000,
        "model-00002-of-00002.safetensors": b"\xff" * 1234,
        "tokenizer/tokenizer.json": b'{"vocab": {}}',
        "tokenizer/extra/merges.txt": b"a b\n",
        "empty.bin": b"",
        # Skipped: dot-files and dot-directories.
        ".gitattributes": b"*.safetensors filter=lfs",
        ".cache/huggingface/download.lock": b"lock",
        "tokenizer/.hidden": b"secret",
    }
    for name, data in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return tmp_path, {k: v for k, v in files.items() if not any(p.startswith(".") for p in k.split("/"))}


def test_manifest_lists_every_file_sorted_with_size_and_sha256(model_dir):
    root, expected = model_dir
    manifest = build_manifest(root)
    assert [a["path"] for a in manifest["artifacts"]] == sorted(expected)
    for artifact in manifest["artifacts"]:
        data = expected[artifact["path"]]
        assert artifact["size"] == len(data)
        assert artifact["sha256"] == sha(data)


def test_manifest_skips_dot_files_and_dot_directories(model_dir):
    root, _expected = model_dir
    paths = [a["path"] for a in build_manifest(root)["artifacts"]]
    assert not any(part.startswith(".") for p in paths for part in p.split("/"))
    assert "tokenizer/extra/merges.txt" in paths


def test_manifest_follows_symlinked_files_like_a_hub_cache_snapshot(tmp_path):
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    (blobs / "abc").write_bytes(b"weights")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "model.safetensors").symlink_to(blobs / "abc")
    assert build_manifest(snapshot)["artifacts"] == [
        {"path": "model.safetensors", "size": 7, "sha256": sha(b"weights")}
    ]


def test_command_prints_manifest_on_stdout_and_progress_on_stderr(model_dir):
    root, expected = model_dir
    out, err = StringIO(), StringIO()
    call_command("release_manifest", str(root), stdout=out, stderr=err)
    manifest = json.loads(out.getvalue())
    assert {a["path"]: a["sha256"] for a in manifest["artifacts"]} == {k: sha(v) for k, v in expected.items()}
    assert "model-00001-of-00002.safetensors: 9.8 KiB / 9.8 KiB" in err.getvalue()
    # The output is accepted as an upload.
    assert parse_manifest(out.getvalue().encode()) == manifest["artifacts"]


def test_command_refuses_a_missing_directory(tmp_path):
    with pytest.raises(CommandError, match="not a directory"):
        call_command("release_manifest", str(tmp_path / "nope"), stdout=StringIO(), stderr=StringIO())


def test_hashing_a_large_file_uses_constant_memory_and_reports_progress(tmp_path):
    size = 50 * 1024 * 1024
    block = bytes(range(256)) * 4096  # 1 MiB
    expected = hashlib.sha256()
    with (tmp_path / "big.safetensors").open("wb") as handle:
        for _ in range(size // len(block)):
            handle.write(block)
            expected.update(block)
    reports = []
    tracemalloc.start()
    try:
        manifest = build_manifest(tmp_path, lambda path, done, total: reports.append((path, done, total)),
                                  progress_every=16 * 1024 * 1024)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert manifest["artifacts"] == [{"path": "big.safetensors", "size": size, "sha256": expected.hexdigest()}]
    # One 1 MiB buffer plus bookkeeping, never the 50 MB file.
    assert peak < 4 * 1024 * 1024, peak
    mib = 1024 * 1024
    assert reports == [("big.safetensors", d * mib, size) for d in (16, 32, 48, 50)]


# --- uploaded manifests ----------------------------------------------------------------------


def test_parse_accepts_an_object_or_a_bare_list():
    entry = {"path": "weights/model.safetensors", "size": 10, "sha256": SHA_A, "extra": "ignored"}
    expected = [{"path": "weights/model.safetensors", "size": 10, "sha256": SHA_A}]
    assert parse_manifest(json.dumps({"artifacts": [entry]}).encode()) == expected
    assert parse_manifest(json.dumps([entry]).encode()) == expected


def _manifest(*entries) -> bytes:
    return json.dumps({"artifacts": list(entries)}).encode()


def _ok(path="model.safetensors", size=1, sha256=SHA_A) -> dict:
    return {"path": path, "size": size, "sha256": sha256}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'"artifacts"', "JSON object with an \"artifacts\" list"),
        (b'{"files": []}', "no \"artifacts\" list"),
        (b'{"artifacts": {"a": 1}}', "JSON object with an \"artifacts\" list"),
        (_manifest(_ok(), "model.bin"), "Entry 2 must be an object"),
        (_manifest(_ok(path="")), 'Entry 1, field "path": give the file\'s path'),
        (_manifest(_ok(path=7)), 'Entry 1, field "path"'),
        (_manifest(_ok(path="/etc/passwd")), 'Entry 1 (/etc/passwd), field "path": the path must be relative'),
        (_manifest(_ok(path="C:/model.bin")), "must be relative"),
        (_manifest(_ok(), _ok(path="weights/../../secret")), 'Entry 2 (weights/../../secret), field "path": the path must not contain ".."'),
        (_manifest(_ok(path="a\x00b")), 'Entry 1, field "path": the path contains a NUL'),
        (_manifest(_ok(path="weights\\model.bin")), 'use "/"'),
        (_manifest(_ok(path="weights//model.bin")), "empty or"),
        (_manifest(_ok(size=-1)), 'Entry 1 (model.safetensors), field "size"'),
        (_manifest(_ok(size="12")), 'field "size"'),
        (_manifest(_ok(size=True)), 'field "size"'),
        (_manifest(_ok(size=1.5)), 'field "size"'),
        (_manifest(_ok(sha256="abc")), 'Entry 1 (model.safetensors), field "sha256": give 64 lowercase'),
        (_manifest(_ok(sha256="A" * 64)), 'field "sha256"'),
        (_manifest(_ok(sha256="g" * 64)), 'field "sha256"'),
        (_manifest(_ok(sha256=None)), 'field "sha256"'),
        (_manifest(_ok(path="a.bin"), _ok(path="b.bin"), _ok(path="a.bin")),
         'Entry 3 (a.bin), field "path": the same path is already listed in entry 1'),
    ],
)
def test_bad_manifest_is_refused_naming_the_entry_and_field(data, expected):
    with pytest.raises(ManifestError) as excinfo:
        parse_manifest(data)
    assert expected in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_error_carries_the_entry_index_and_field():
    with pytest.raises(ManifestError) as excinfo:
        parse_manifest(_manifest(_ok(), _ok(path="b", sha256="x")))
    assert (excinfo.value.index, excinfo.value.field) == (2, "sha256")
