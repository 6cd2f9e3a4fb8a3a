"""Command line: run the fake API server on its own for manual work.

``python -m tests.kubefake --port 8001 --kubeconfig-out /tmp/kubefake.kubeconfig`` serves on
127.0.0.1:8001, loads CRDs from ``crds/`` (``--crds``, repeatable), writes a kubeconfig and
prints its path; then ``KUBECONFIG=/tmp/kubefake.kubeconfig kubectl get ns`` or the real
processes can talk to it. ``--controllers jobs,deployments,namespaces`` (or ``all``) turns
on the simulated controllers; ``--unavailable-images PATTERN`` (repeatable, fnmatch) makes
Deployments running such images fail their rollout (ProgressDeadlineExceeded);
``--no-validate`` turns off schema validation. Ctrl-C stops.
No OpenAPI documents are served, so use ``kubectl apply --validate=false``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.support.serving import wait_until_terminated

from .controllers import KINDS
from .server import KubeFake


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m tests.kubefake", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--crds", action="append", type=Path, help="CRD file or directory")
    parser.add_argument("--kubeconfig-out", type=Path, default=Path("/tmp/kubefake.kubeconfig"))
    parser.add_argument(
        "--controllers", default="", help="comma list of jobs,deployments,namespaces or 'all'"
    )
    parser.add_argument(
        "--unavailable-images",
        action="append",
        default=[],
        metavar="PATTERN",
        help="Deployments running images matching this fnmatch pattern never roll out",
    )
    parser.add_argument("--no-validate", action="store_true", help="skip schema validation")
    parser.add_argument("--kube-version", default="1.29")
    return parser.parse_args(argv)


def controller_names(value: str) -> list[str]:
    """``"all"`` or a comma list as controller names."""
    if value.strip() == "all":
        return list(KINDS)
    return [name.strip() for name in value.split(",") if name.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Run until interrupted."""
    args = parse_args(argv)
    fake = KubeFake(
        args.crds or [Path("crds")],
        host=args.host,
        port=args.port,
        validate=not args.no_validate,
        kube_version=args.kube_version,
        controllers=controller_names(args.controllers),
    )
    fake.controllers.unavailable_images(*args.unavailable_images)
    with fake:
        path = fake.write_kubeconfig(args.kubeconfig_out)
        print(f"kubefake serving {fake.url}; kubeconfig: {path}", flush=True)
        print(f"export KUBECONFIG={path}", flush=True)
        wait_until_terminated()
    return 0


if __name__ == "__main__":
    sys.exit(main())
