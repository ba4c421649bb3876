"""Collect the peer cross-checks only when asked for with ``-m peers`` (``make test-peers``).

The default run (``addopts = -m 'not peers'`` in ``pyproject.toml``) would deselect these
tests anyway, but only after importing their module, and that imports torch and the peer
libraries, which CI does not install. Ignoring the files at collection keeps the default run
free of those imports, errors and skips.
"""

import re

_PEERS = re.compile(r"\bpeers\b")
_NOT_PEERS = re.compile(r"\bnot\s+peers\b")


def _peers_requested(config) -> bool:
    """Whether the ``-m`` expression names ``peers`` other than as ``not peers``."""
    markexpr = config.getoption("markexpr", default="") or ""
    return bool(_PEERS.search(markexpr)) and not _NOT_PEERS.search(markexpr)


def pytest_ignore_collect(collection_path, config):
    if collection_path.name.startswith("test_") and not _peers_requested(config):
        return True
    return None
