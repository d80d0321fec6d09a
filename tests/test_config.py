"""Configuration loading: defaults, the shipped config.toml, and errors that name the key."""

from __future__ import annotations

import tomllib
from dataclasses import asdict
from pathlib import Path

import pytest

from crawler.config import Config, ConfigError, load_config, parse_duration

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_toml_shows_every_default():
    shipped = tomllib.loads((ROOT / "config.toml").read_text())
    defaults = asdict(Config())
    assert shipped.keys() == defaults.keys()
    for section, values in defaults.items():
        assert shipped[section] == values, section


def test_empty_file_gives_defaults(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config == Config()
    assert config.politeness.product_token == "pingcrawl"
    assert config.crawl.recrawl_after_seconds == 86400


def test_values_are_read(tmp_path):
    path = write(
        tmp_path,
        '[crawl]\nseeds = ["https://a.example/p/"]\nmax_depth = 1\nrecrawl_after = "6h"\n'
        "[politeness]\ndelay = 2\n",
    )
    config = load_config(path)
    assert config.crawl.seeds == ["https://a.example/p/"]
    assert config.crawl.max_depth == 1
    assert config.crawl.recrawl_after_seconds == 6 * 3600
    assert config.politeness.delay == 2.0


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[crawl]\nmax_dept = 3\n", "crawl.max_dept"),
        ("[crawler]\nseeds = []\n", "[crawler]"),
        ('[crawl]\nmax_depth = "two"\n', "crawl.max_depth"),
        ("[politeness]\ndelay = -1\n", "politeness.delay"),
        ('[crawl]\nfollow = ["pingback", "bogus"]\n', "crawl.follow"),
        ('[crawl]\nrecrawl_after = "soon"\n', "crawl.recrawl_after"),
        ("[politeness]\nobey_robots = 1\n", "politeness.obey_robots"),
        ("[politeness]\nconcurrency = 0\n", "politeness.concurrency"),
        ('[http]\nproxy = "socks://x"\n', "http.proxy"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert named in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_invalid_toml_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[crawl\n"))


def test_missing_default_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PINGCRAWL_CONFIG", raising=False)
    assert load_config() == Config()


def test_overrides_are_validated():
    config = Config().with_overrides(crawl={"max_pages": 5})
    assert config.crawl.max_pages == 5
    with pytest.raises(ConfigError, match="crawl.max_pages"):
        Config().with_overrides(crawl={"max_pages": -1})


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("0s", 0)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[politeness]\ndelay = nan\n", "politeness.delay"),  # would turn pacing off
        ("[politeness]\ndelay = inf\n", "politeness.delay"),  # would hang the run
        ("[politeness]\ndelay = 1e9\n", "politeness.delay"),
        ("[politeness]\nmax_crawl_delay = -inf\n", "politeness.max_crawl_delay"),
        ("[politeness]\nconcurrency = 100000000\n", "politeness.concurrency"),
        ("[politeness]\nper_host = 0\n", "politeness.per_host"),
        ("[http]\ntimeout = inf\n", "http.timeout"),  # would overflow
        ("[http]\ntimeout = nan\n", "http.timeout"),
        ("[http]\ntimeout = 0\n", "http.timeout"),
        ("[http]\nretries = 1000000\n", "http.retries"),
        ("[http]\nmax_bytes = 0\n", "http.max_bytes"),
        ("[http]\nmax_redirects = 100000\n", "http.max_redirects"),
        ("[crawl]\nmax_depth = 99999999999999\n", "crawl.max_depth"),
        ("[crawl]\nmax_pages = 99999999999999\n", "crawl.max_pages"),
        ("[crawl]\nrecrawl_after = nan\n", "crawl.recrawl_after"),
        ("[crawl]\nrecrawl_after = inf\n", "crawl.recrawl_after"),
        ('[crawl]\nrecrawl_after = "' + "9" * 400 + 'd"\n', "crawl.recrawl_after"),
        ('[crawl]\nmax_runtime = "1e9"\n', "crawl.max_runtime"),
        ("[crawl]\nmax_runtime = 1e300\n", "crawl.max_runtime"),
        ('[crawl]\ndatabase = ""\n', "crawl.database"),
        ('[crawl]\ndatabase = "  "\n', "crawl.database"),
    ],
)
def test_out_of_range_and_non_finite_values_name_the_key(tmp_path, text, named):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert named in message and len(message) < 200, message


@pytest.mark.parametrize(
    "text",
    [
        "[politeness]\ndelay = 0\n",
        "[politeness]\ndelay = 3600\n",
        "[http]\ntimeout = 0.5\n",
        '[crawl]\nrecrawl_after = "365d"\n',
        "[crawl]\nmax_depth = 0\n",
    ],
)
def test_values_at_the_edges_of_their_range_are_accepted(tmp_path, text):
    load_config(write(tmp_path, text))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1])
def test_durations_must_be_finite_and_not_negative(value):
    with pytest.raises(ConfigError, match="x.y"):
        parse_duration(value, "x.y")
