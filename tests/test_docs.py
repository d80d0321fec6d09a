"""The README documents every command and the two quick-start commands."""

from __future__ import annotations

from pathlib import Path

from crawler.cli.main import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_quick_start_commands():
    assert "make demo" in README
    assert "make test" in README


def test_every_command_is_in_the_readme_with_help():
    for name, command in cli.commands.items():
        assert f"pingcrawl {name}" in README, name
        assert command.help and command.help.strip(), name


def test_every_config_key_is_in_the_readme():
    from dataclasses import fields

    from crawler.config import Config

    config = Config()
    for section in fields(config):
        for key in fields(getattr(config, section.name)):
            assert f"`{key.name}`" in README, f"{section.name}.{key.name}"
