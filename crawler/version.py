"""The archive's software version, named in WARC provenance and the browser's User-Agent."""
__version__ = "0.1.0"
