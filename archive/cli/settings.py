"""`python -m archive settings`: every setting, its default and current value."""
from __future__ import annotations

import argparse

from archive.settings import SETTINGS, Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``settings`` subcommand."""
    st = sub.add_parser("settings", help="list every setting with its default and current value")
    st.add_argument("--markdown", action="store_true", help="print README's settings table")
    st.set_defaults(run=show_settings)


def show_settings(settings: Settings, args) -> int:
    if args.markdown:
        from archive.settings import settings_table

        print(settings_table())
        return 0
    for s in SETTINGS:  # passwords and keys shown as ***
        print(f"{s.name}={settings.shown(s.name)}\n    default {s.default!r}: {s.help}")
    return 0
