"""A fake Kubernetes API server for tests, driven through the real ``kubernetes`` client.

Starlette app on uvicorn, 127.0.0.1, random port, in a daemon thread. It behaves like the
real store (uid, resourceVersion with 409 on stale writes, generation, status subresource,
finalizers, namespace cascade, selectors, watch with 410 when too old, 422 from the official
schemas and CRD schemas), with switchable simulated controllers, fault injection and a
request log. Modules:

* :mod:`.server` ``KubeFake`` runner and test helpers; :mod:`.fixtures` pytest fixtures;
  :mod:`.cli` ``python -m tests.kubefake``.
* :mod:`.app` / :mod:`.routes` HTTP layer; :mod:`.discovery` discovery documents.
* :mod:`.api` the verbs; :mod:`.store` objects, history, watchers; :mod:`.objects` metadata
  bookkeeping; :mod:`.watch` event streaming.
* :mod:`.selectors`, :mod:`.patching`, :mod:`.validation`, :mod:`.crds`, :mod:`.resources`.
* :mod:`.controllers`, :mod:`.faults`, :mod:`.requestlog`.

Run standalone (kubeconfig for kubectl or the real processes)::

    python -m tests.kubefake --port 8001 --kubeconfig-out /tmp/kubefake.kubeconfig \\
        --crds crds/ --controllers all
    KUBECONFIG=/tmp/kubefake.kubeconfig kubectl get namespaces

``kubectl get/create/delete`` work as is; ``kubectl apply`` needs ``--validate=false`` because
the fake serves no ``/openapi/v2`` or ``/openapi/v3`` documents.
"""

from __future__ import annotations

from .controllers import Controllers, JobOutcome
from .errors import ApiError
from .faults import Fault, Faults
from .requestlog import Request, RequestLog
from .resources import ResourceType
from .server import KubeFake, kubeconfig_dict, write_kubeconfig

__all__ = [
    "ApiError",
    "Controllers",
    "Fault",
    "Faults",
    "JobOutcome",
    "KubeFake",
    "Request",
    "RequestLog",
    "ResourceType",
    "kubeconfig_dict",
    "write_kubeconfig",
]
