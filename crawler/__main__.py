"""``python -m crawler`` runs the pingcrawl command line."""

from crawler.cli.main import main

main()
