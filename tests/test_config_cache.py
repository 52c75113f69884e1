"""The registry's parsed document kept between runs (annual_report.config.cached_document):
parsing a 5,000-unit departments.yaml costs 0.4 s a round, reading it back 10 ms. The cache is
keyed by the file's content, holds JSON (no code runs to read it), and what it gives is
validated every run as the file would be."""

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from annual_report.config import read_yaml
from annual_report.errors import ConfigError
from office.settings import CACHE_DIR, load_app_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def office(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    data = tmp_path / "data"
    data.mkdir()
    return config, data


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_the_registry_is_read_back_from_the_cache_and_follows_every_change(office):
    config, data = office
    first = load_app_config(config, data)
    cache = data / CACHE_DIR / "departments.yaml.json"
    held = json.loads(cache.read_text(encoding="utf-8"))
    assert held["document"]["city"] == first.registry.city
    written = cache.stat()
    again = load_app_config(config, data)
    assert again.registry == first.registry
    assert (cache.stat().st_ino, cache.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)

    code = first.registry.codes[0]
    name = first.registry.get(code).name
    _edit(config / "departments.yaml", f"name: {name}", "name: 改过名的单位")
    edited = load_app_config(config, data)
    assert edited.registry.get(code).name == "改过名的单位"
    assert json.loads(cache.read_text(encoding="utf-8"))["key"] != held["key"]
    _edit(config / "departments.yaml", "name: 改过名的单位", f"name: {name}")
    assert load_app_config(config, data).registry == first.registry


def test_what_the_cache_gives_is_validated_like_the_file(office):
    config, data = office
    load_app_config(config, data)
    cache = data / CACHE_DIR / "departments.yaml.json"
    held = json.loads(cache.read_text(encoding="utf-8"))
    held["document"]["departments"][0]["email"] = "not-an-address"  # same key, other content
    cache.write_text(json.dumps(held, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_app_config(config, data)
    assert any("不是有效的邮件地址（not-an-address）" in p for p in caught.value.problems)


def test_a_broken_cache_is_parsed_again_and_replaced(office):
    config, data = office
    expected = load_app_config(config, data).registry
    cache = data / CACHE_DIR / "departments.yaml.json"
    cache.write_text("{not json", encoding="utf-8")
    assert load_app_config(config, data).registry == expected
    assert json.loads(cache.read_text(encoding="utf-8"))["document"]["city"] == expected.city


def test_no_cache_without_the_data_directory(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    load_app_config(config, tmp_path / "not-yet")
    assert not (tmp_path / "not-yet").exists()  # loading the configuration creates nothing


def test_a_document_json_would_change_is_not_cached(tmp_path):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (tmp_path / "dated.yaml").write_text("day: 2022-01-20\n1: one\n", encoding="utf-8")
    for _ in range(2):
        assert read_yaml(tmp_path / "dated.yaml", cache_dir=cache_dir) == {
            "day": date(2022, 1, 20),
            1: "one",
        }
    assert list(cache_dir.iterdir()) == []
