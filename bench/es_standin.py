"""Start osmem-server (an in-memory OpenSearch-compatible STAND-IN for Elasticsearch)
behind the test header proxy and print the ELASTICSEARCH_URL to use, e.g.

    .venv/bin/python bench/es_standin.py &          # prints ELASTICSEARCH_URL=http://127.0.0.1:PORT
    ELASTICSEARCH_URL=http://127.0.0.1:PORT .venv/bin/python bench/search.py

Figures measured this way are the in-memory stand-in's, not a real Elasticsearch's.
Runs until interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.elastic import start_standin  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="proxy port (default: a free one)")
    args = parser.parse_args(argv)
    server, proxy = start_standin(args.port)
    print(f"ELASTICSEARCH_URL={proxy.url}", flush=True)
    print(f"# osmem-server {server.version} (stand-in) at {server.url}; Ctrl-C to stop", file=sys.stderr, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):  # a timed wait lets the signal handler run
            pass
    except KeyboardInterrupt:
        pass
    finally:
        proxy.close()
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
