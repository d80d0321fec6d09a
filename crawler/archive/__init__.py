"""Step 6 of the data flow (a sink): what was fetched, kept as WARC files, indexed, packed.

``warc`` writes the records (:class:`~crawler.archive.warc.WarcWriter`), ``recover`` cuts the
partial tail a killed writer leaves, ``index`` builds a CDXJ index of a WARC directory and
``wacz`` packs the directory into a WACZ.
"""
