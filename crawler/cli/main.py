"""Step 9 of the data flow: the ``pingcrawl`` command line, a thin click layer.

Each command loads the configuration, calls one library function and turns library
exceptions into one-line errors: exit 2 for bad usage or configuration, 75 when another
run holds the database, 130/143 after a clean stop on SIGINT/SIGTERM. One module per
command group; this one only assembles the group.
"""

from __future__ import annotations

import click

from crawler.cli.crawl import crawl
from crawler.cli.demo import demo
from crawler.cli.export import export
from crawler.cli.inspect import extract, related, stats
from crawler.cli.reextract import reextract
from crawler.cli.report import datasette_metadata, report, status
from crawler.cli.requeue import requeue
from crawler.cli.show import show
from crawler.cli.worker import worker


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pingcrawl")
def cli() -> None:
    """pingcrawl: a polite crawler for the blog web.

    It starts from blog posts, follows their pingbacks, trackbacks and cited sources,
    stores every page in SQLite and builds the graph of related posts.

    \b
    Start with:  pingcrawl demo
    Then:        pingcrawl crawl https://example.blog/2024/05/a-post/
                 pingcrawl stats
                 pingcrawl export related --format csv
                 pingcrawl report -o report.html
    """


for command in (
    crawl,
    export,
    related,
    stats,
    extract,
    reextract,
    demo,
    requeue,
    report,
    status,
    datasette_metadata,
    worker,
    show,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="pingcrawl")
