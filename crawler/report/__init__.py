"""``pingcrawl report``: the crawl as one self-contained HTML page (the face of step 8).

The page embeds its data as JSON and the graph library (Cytoscape.js with the fCoSE
layout, MIT, vendored in ``static/`` with its licences), so it opens offline from a file or
an e-mail. :mod:`crawler.report.html` builds it from :func:`db.report.report_data`.
"""

from crawler.report.html import build_report, write_report

__all__ = ["build_report", "write_report"]
