"""Benchmarks for pingcrawl (issue 7, SPEC section 9). Not part of the test suite.

``python -m benchmarks.run``    pingcrawl vs a Scrapy spider on a local virtual web
``python -m benchmarks.micro``  extraction and database-write micro-benchmarks
"""
