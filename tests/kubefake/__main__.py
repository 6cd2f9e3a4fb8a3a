"""Entry point for ``python -m tests.kubefake`` (see :mod:`tests.kubefake.cli`)."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
