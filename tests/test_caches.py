"""The shortcuts that keep conversion fast give the answers of the slow ways.

Package lookups read top_level.txt and RECORD files instead of asking
`importlib.metadata.packages_distributions()`; the compiled template is kept in
Jinja's bytecode cache, which must never be the reason a conversion fails.
"""

import importlib.metadata

import jinja2
import pytest

from kalelike import packages, render


def test_providers_match_packages_distributions() -> None:
    expected = importlib.metadata.packages_distributions()
    for module, names in expected.items():
        if module.isidentifier() and module != "__pycache__":
            name = sorted(names)[0]
            pin = f"{name}=={importlib.metadata.version(name)}"
            assert packages._providers(module)[:1] == [pin], module


def test_unknown_module_has_no_provider() -> None:
    assert packages._providers("no_such_module_anywhere") == []


def test_no_safe_cache_folder_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: object, *args: object) -> None:
        raise RuntimeError("Cannot determine safe temp directory.")

    monkeypatch.setattr(jinja2.FileSystemBytecodeCache, "__init__", refuse)
    assert render._bytecode_cache() is None


def test_unwritable_cache_is_skipped(tmp_path) -> None:
    cache = render._bytecode_cache()
    assert cache is not None
    cache.directory = str(tmp_path / "gone")  # writing a temporary file here fails
    env = jinja2.Environment()
    bucket = jinja2.bccache.Bucket(env, "key", "checksum")
    bucket.code = compile("x = 1", "template", "exec")
    cache.dump_bytecode(bucket)
    assert not (tmp_path / "gone").exists()
