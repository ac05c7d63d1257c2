"""Settings: read from the environment, validated, and documented in README.md."""
from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from archive.settings import SETTINGS, SettingError, Settings, settings_table

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


def test_a_duration_under_a_minute_is_its_own_error() -> None:
    from archive.settings import DurationTooShort, parse_duration

    with pytest.raises(DurationTooShort, match="'30s' is shorter than a minute"):
        parse_duration("30s")
    with pytest.raises(ValueError) as caught:
        parse_duration("soon")
    assert not isinstance(caught.value, DurationTooShort)
