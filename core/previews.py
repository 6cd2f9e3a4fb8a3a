"""Pure: the Environment CR a pull request or tracked branch gets when it first converges (no I/O).

One builder for what the workers create (`workers.environments`) and what
`catalyst-preview render --pr` shows, so the two cannot drift apart. The workers then add their
GitHub bookkeeping (annotations) and the Project's other sources at their branch heads, naming
those they could not resolve in an annotation that `unresolved_sources` reads back (for the
workers, and for the reconciler's SourceMissing condition).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from core import naming
from core.model import (
    Environment,
    EnvironmentSource,
    EnvironmentSpec,
    EnvironmentType,
    GitHubRef,
    ObjectMeta,
    Project,
    ProjectRef,
)


def new_environment(
    *,
    project: Project,
    name: str,
    type: EnvironmentType,
    source: EnvironmentSource,
    repository: str,
    installation_id: int,
    others: Sequence[EnvironmentSource] = (),
) -> Environment:
    """Environment `name` of `project` at `source` (its own commit), then `others` in order."""
    team = project.metadata.namespace or "default"
    labels = naming.standard_labels(team, project.metadata.name, name)
    if type == "deployment":
        labels[naming.LABEL_BRANCH] = naming.sanitize_label_value(source.branch)
    namespace = naming.project_namespace(team, project.metadata.name)
    return Environment(
        metadata=ObjectMeta(name=name, namespace=namespace, labels=labels),
        spec=EnvironmentSpec(
            project_ref=ProjectRef(name=project.metadata.name),
            type=type,
            sources=[source, *others],
            github=GitHubRef(installation_id=installation_id, repository=repository),
        ),
    )


def unresolved_sources(env: Environment) -> dict[str, str]:
    """Source name -> why the workers could not resolve its commit (unreadable annotation: none)."""
    raw = (env.metadata.annotations or {}).get(naming.ANNOTATION_UNRESOLVED_SOURCES)
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
