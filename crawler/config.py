"""Step 0 of the data flow: read and validate ``config.toml`` into typed settings.

Every key of SPEC section 4 has a default here; the root ``config.toml`` shows them
with comments. Unknown keys, wrong types and bad values raise :class:`ConfigError`
naming the key, so a typo is never silently ignored.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from crawler.records import LinkKind

LINK_KINDS = tuple(str(kind) for kind in LinkKind)
DEFAULT_USER_AGENT = "pingcrawl/0.1 (+https://github.com/pingcrawl/pingcrawl)"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


YEAR = 365 * 86400
# (lowest, highest, lowest excluded) of every number in the configuration: generous for
# any real crawl, but never NaN, infinite, or so large that a run would wait forever.
BOUNDS: dict[str, tuple[float, float, bool]] = {
    "crawl.max_depth": (0, 1000, False),
    "crawl.max_pages": (0, 1_000_000_000, False),
    "crawl.recrawl_after": (0, 10 * YEAR, False),
    "crawl.sweep_after": (0, 10 * YEAR, False),
    "crawl.max_runtime": (0, YEAR, False),
    "politeness.delay": (0, 3600, False),
    "politeness.per_host": (1, 100, False),
    "politeness.concurrency": (1, 1000, False),
    "politeness.max_crawl_delay": (0, 86400, False),
    "http.timeout": (0, 3600, True),
    "http.retries": (0, 20, False),
    "http.max_bytes": (1, 1_000_000_000, False),
    "http.max_redirects": (0, 50, False),
    "cluster.lease": (0, 86400, True),
}


class ConfigError(ValueError):
    """A configuration problem; the message names the file or key and what is wrong."""


def parse_duration(value: str | int | float, key: str = "duration") -> float:
    """Turn ``"90s"``, ``"15m"``, ``"1d"`` (or a number of seconds) into seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"{key}: expected a duration like '30s', '15m', '1d'")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(value)
        if not match:
            raise ConfigError(f"{key}: {value!r} is not a duration like '30s', '15m', '1d'")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if not math.isfinite(seconds):
        raise ConfigError(f"{key}: must be a finite duration, got {_shown(value)}")
    if seconds < 0:
        raise ConfigError(f"{key}: must not be negative")
    return seconds


@dataclass(frozen=True)
class CrawlSettings:
    seeds: list[str] = field(default_factory=list)
    database: str = "pingcrawl.db"
    max_depth: int = 2
    max_pages: int = 10000
    follow: list[str] = field(default_factory=lambda: ["pingback", "trackback", "citation"])
    recrawl_after: str = "1d"
    max_runtime: str = "0s"
    # Whole blogs (issue 13): front pages whose every post is crawled, checked every
    # recrawl_after through their feeds; their posts are re-swept every sweep_after.
    blogs: list[str] = field(default_factory=list)
    sweep_after: str = "30d"

    @property
    def recrawl_after_seconds(self) -> float:
        return parse_duration(self.recrawl_after, "crawl.recrawl_after")

    @property
    def sweep_after_seconds(self) -> float:
        return parse_duration(self.sweep_after, "crawl.sweep_after")

    @property
    def max_runtime_seconds(self) -> float:
        return parse_duration(self.max_runtime, "crawl.max_runtime")


@dataclass(frozen=True)
class PolitenessSettings:
    user_agent: str = DEFAULT_USER_AGENT
    delay: float = 1.0
    per_host: int = 1
    concurrency: int = 16
    obey_robots: bool = True
    max_crawl_delay: float = 60.0

    @property
    def product_token(self) -> str:
        """The robots.txt product token: the user agent up to the first "/"."""
        return self.user_agent.split("/", 1)[0].strip() or "pingcrawl"


@dataclass(frozen=True)
class HttpSettings:
    timeout: float = 20.0
    retries: int = 3
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    proxy: str = ""


@dataclass(frozen=True)
class SafetySettings:
    allow_private: bool = False


@dataclass(frozen=True)
class ClusterSettings:
    database: str = ""  # postgresql://… : workers share it; empty: the SQLite database
    lease: float = 30.0  # seconds a worker's host lease lasts unless renewed


@dataclass(frozen=True)
class ArchiveSettings:
    warc_dir: str = ""  # a directory turns WARC output on
    warc_max_size: str = "1GB"  # a file rolls over to the next past this size

    @property
    def warc_max_bytes(self) -> int:
        from crawler.archive.warc import parse_size  # warcio loads only when it is asked for

        return parse_size(self.warc_max_size)


@dataclass(frozen=True)
class Config:
    crawl: CrawlSettings = field(default_factory=CrawlSettings)
    politeness: PolitenessSettings = field(default_factory=PolitenessSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)

    def with_overrides(self, **sections: dict[str, Any]) -> Config:
        """A validated copy with some keys changed: ``with_overrides(crawl={"max_pages": 5})``."""
        merged = {name: _as_dict(getattr(self, name)) for name in _SECTIONS}
        for name, values in sections.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown section [{name}]")
            merged[name].update(values)
        return config_from_dict(merged)


_SECTIONS: dict[str, type] = {
    "crawl": CrawlSettings,
    "politeness": PolitenessSettings,
    "http": HttpSettings,
    "safety": SafetySettings,
    "cluster": ClusterSettings,
    "archive": ArchiveSettings,
}


def _as_dict(section: object) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section)}  # type: ignore[arg-type]


def _check_type(key: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool) and type(default) is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {value!r}")
        return list(value)
    return value


def _build_section(name: str, raw: Any) -> Any:
    cls = _SECTIONS[name]
    if not isinstance(raw, dict):
        raise ConfigError(f"[{name}] must be a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"unknown key {name}.{key} (known: {', '.join(sorted(known))})")
        values[key] = _check_type(f"{name}.{key}", value, getattr(defaults, key))
    return replace(defaults, **values)


def _validate(config: Config) -> None:
    crawl, polite, http = config.crawl, config.politeness, config.http
    for kind in crawl.follow:
        if kind not in LINK_KINDS:
            raise ConfigError(f"crawl.follow: unknown link kind {kind!r} (one of {LINK_KINDS})")
    values = {key: _value(config, key) for key in BOUNDS}
    values["crawl.recrawl_after"] = crawl.recrawl_after_seconds
    values["crawl.max_runtime"] = crawl.max_runtime_seconds
    values["crawl.sweep_after"] = crawl.sweep_after_seconds
    for key, value in values.items():
        _check_bounds(key, value)
    if not crawl.database.strip():
        raise ConfigError("crawl.database: must not be empty (a path such as 'pingcrawl.db')")
    if not polite.user_agent.strip():
        raise ConfigError("politeness.user_agent: must not be empty")
    database = config.cluster.database
    if database and not re.match(r"^postgres(ql)?://", database):
        raise ConfigError(f"cluster.database: {database!r} is not a postgresql:// URL")
    if http.proxy and not re.match(r"^https?://[^/]+", http.proxy):
        raise ConfigError(f"http.proxy: {http.proxy!r} is not an http:// or https:// URL")
    try:
        config.archive.warc_max_bytes  # noqa: B018 - parsed for its error
    except ValueError as exc:
        raise ConfigError(f"archive.warc_max_size: {exc}") from exc


def _value(config: Config, key: str) -> Any:
    section, name = key.split(".")
    return getattr(getattr(config, section), name)


def _check_bounds(key: str, value: float) -> None:
    """Refuse NaN, infinities and values outside :data:`BOUNDS`: ``delay = nan`` would
    turn pacing off, ``delay = 1e9`` hang the run, ``timeout = inf`` overflow."""
    low, high, open_low = BOUNDS[key]
    too_low = value <= low if open_low else value < low
    if not math.isfinite(value) or too_low or value > high:
        lower = f"greater than {low:.15g}" if open_low else f"at least {low:.15g}"
        raise ConfigError(f"{key}: must be {lower} and at most {high:.15g}, got {_shown(value)}")


def _shown(value: Any) -> str:
    """A value for an error line, cut short: a 400-digit number must not fill the screen."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build a validated :class:`Config` from parsed TOML (or any nested dict)."""
    for name in data:
        if name not in _SECTIONS:
            raise ConfigError(f"unknown section [{name}] (known: {', '.join(_SECTIONS)})")
    sections = {name: _build_section(name, data.get(name, {})) for name in _SECTIONS}
    config = Config(**sections)
    _validate(config)
    return config


def default_config_path() -> Path:
    return Path(os.environ.get("PINGCRAWL_CONFIG") or "config.toml")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load ``path``; with no path, ``$PINGCRAWL_CONFIG`` or ``./config.toml`` if present.

    An explicitly named file that does not exist is an error; a missing default file
    means "all defaults".
    """
    explicit = bool(path) or bool(os.environ.get("PINGCRAWL_CONFIG"))
    file = Path(path) if path else default_config_path()
    if not file.exists():
        if explicit:
            raise ConfigError(f"config file {file} does not exist")
        return Config()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from None
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{file}: {exc}") from None
