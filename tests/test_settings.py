"""Settings: read from the environment, validated, and documented in README.md."""
from __future__ import annotations

import ipaddress
import typing
from dataclasses import fields
from pathlib import Path
from typing import get_type_hints

import pytest

import archive.settings
from archive.settings import SETTINGS, SettingError, Settings, settings_table
from crawler.vantage import Vantage

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults():
    s = Settings.from_env({})
    assert s.archive_home == Path("./data").resolve()
    assert s.capture_allow_networks == ()
    assert s.warc_max_size == 1_000_000_000
    assert s.capture_viewport == (1280, 900)


def test_environment_overrides_and_parsing():
    s = Settings.from_env({"CAPTURE_ALLOW_NETWORKS": "127.0.0.0/8, 10.0.0.0/8", "CAPTURE_TIMEOUT": "5"})
    assert s.capture_allow_networks == (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("10.0.0.0/8"))
    assert s.capture_timeout == 5.0


@pytest.mark.parametrize("name, value, words", [
    ("CAPTURE_ALLOW_NETWORKS", "localhost", "not a network"),
    ("CAPTURE_TIMEOUT", "soon", "CAPTURE_TIMEOUT='soon' is not valid"),
    ("ARCHIVE_PORT", "eighty", "ARCHIVE_PORT"),
])
def test_bad_values_name_the_setting(name, value, words):
    with pytest.raises(SettingError, match=words):
        Settings.from_env({name: value})


def test_readme_settings_table_is_current():
    text = README.read_text()
    block = text.split("<!-- settings -->\n")[1].split("\n<!-- /settings -->")[0]
    assert block == settings_table(), "README is stale: paste `python -m archive settings --markdown`"
    for s in SETTINGS:
        assert f"`{s.name}`" in block


def test_every_setting_is_a_typed_field_of_its_parsers_type():
    """One declaration: each field of Settings is a setting, typed as its parser's result; no
    untyped attribute lookup stands behind it."""
    assert "__getattr__" not in vars(Settings)
    hints = get_type_hints(Settings, vars(archive.settings) | {"Vantage": Vantage})
    assert [f.name for f in fields(Settings)] == [s.name.lower() for s in SETTINGS]
    for s in SETTINGS:
        parsed = s.parse if isinstance(s.parse, type) else get_type_hints(
            s.parse, vars(archive.settings) | {"Vantage": Vantage})["return"]
        assert hints[s.name.lower()] == parsed, s.name
    values = Settings.from_env({})
    with pytest.raises(AttributeError):
        values.no_such_setting  # noqa: B018 (the lookup itself is the test)
    with pytest.raises(TypeError):
        Settings()  # every value is required: from_env supplies them all


def test_parsed_values_have_their_declared_types():
    s = Settings.from_env({"CAPTURE_ALLOW_NETWORKS": "10.0.0.0/8", "CAPTURE_VANTAGES": "kg=KG=socks5://10.0.0.5:1080",
                           "FINGERPRINTS_PATH": "a.csv:b.csv"})
    hints = get_type_hints(Settings, vars(archive.settings) | {"Vantage": Vantage})
    for f in fields(Settings):
        kind = typing.get_origin(hints[f.name]) or hints[f.name]
        assert isinstance(getattr(s, f.name), kind), f.name
def test_a_duration_under_a_minute_is_its_own_error() -> None:
    from archive.settings import DurationTooShort, parse_duration

    with pytest.raises(DurationTooShort, match="'30s' is shorter than a minute"):
        parse_duration("30s")
    with pytest.raises(ValueError) as caught:
        parse_duration("soon")
    assert not isinstance(caught.value, DurationTooShort)
