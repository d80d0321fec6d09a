"""``python -m crawler`` runs the pingcrawl command line."""

from crawler.cli import main

main()
