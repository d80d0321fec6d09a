"""The README documents every command and the two quick-start commands."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

from crawler.cli.main import cli
from crawler.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_quick_start_commands():
    assert "make demo" in README
    assert "make test" in README


def test_every_command_is_in_the_readme_with_help():
    for name, command in cli.commands.items():
        assert f"pingcrawl {name}" in README, name
        assert command.help and command.help.strip(), name


def _readme_config_table() -> dict[str, set[str]]:
    """The keys the README's configuration table lists, by section."""
    sections: dict[str, set[str]] = {}
    for line in README.splitlines():
        match = re.match(r"\|\s*`\[(\w+)\]`\s*\|(.*)\|\s*$", line)
        if match:
            sections[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return sections


def _config_sections() -> dict[str, set[str]]:
    config = Config()
    return {
        section.name: {key.name for key in fields(getattr(config, section.name))}
        for section in fields(config)
    }


def test_every_config_key_is_in_its_section_of_the_readme_table():
    table = _readme_config_table()
    for section, keys in _config_sections().items():
        assert section in table, f"README configuration table has no [{section}] row"
        assert keys <= table[section], f"[{section}] row lacks {sorted(keys - table[section])}"
        assert table[section] <= keys, f"[{section}] row names unknown {table[section] - keys}"


def test_the_shipped_config_toml_shows_every_key_with_its_default():
    shipped = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    defaults = Config()
    for section, keys in _config_sections().items():
        assert set(shipped.get(section, {})) == keys, section
        # The file loads to the defaults: what it shows is what you get without it.
    assert load_config(ROOT / "config.toml") == defaults
