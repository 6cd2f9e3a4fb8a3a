"""Pure: the Environment CR a pull request or tracked branch gets when it first converges (no I/O).

One builder for what the workers create (`workers.environments`) and what
`catalyst-preview render --pr` shows, so the two cannot drift apart. The workers then add their
GitHub bookkeeping (annotations) and the Project's other sources at their branch heads.
"""

from __future__ import annotations

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
