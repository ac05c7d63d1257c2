"""Crawls of whole sites (issue 21): a frontier in the catalog feeding the ordinary job queue,
the worker hooks that follow each page's links, recrawls and the comparison of two crawls."""
