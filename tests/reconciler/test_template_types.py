"""One source per template type: `core.model.TemplateType`.

The CRD schema (and the chart's byte-identical copy) is checked against the model in
tests/core/test_crd_model_agreement.py and tests/deploy/test_chart_crds.py; here every type the
model admits has a deploy mode in the registry the reconciler process builds
(`reconciler.modes.install.deploy_modes`), and no mode is registered for a type the model does
not know.
"""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml

from core.model import TemplateType
from reconciler.modes.install import deploy_modes
from reconciler.modes.registry import UnknownMode, mode_for
from tests.support.fake_sources import LocalSourceFetcher

ROOT = Path(__file__).resolve().parents[2]


def test_every_template_type_has_a_mode_and_every_mode_a_type(tmp_path: Path) -> None:
    modes = deploy_modes(LocalSourceFetcher(tmp_path))
    types = set(get_args(TemplateType))
    assert {t for t in types if mode_for(t, modes) is not None} == types
    assert set(modes) == types


def test_an_unregistered_type_is_unknown_not_a_crash() -> None:
    with pytest.raises(UnknownMode, match="'docker-compose' has no deploy mode yet"):
        mode_for("docker-compose", deploy_modes(None))  # compose needs a source fetcher


def test_the_crd_enum_is_the_models_list() -> None:
    crd = yaml.safe_load((ROOT / "crds" / "projects.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    template = schema["properties"]["spec"]["properties"]["templates"]["properties"]
    enums = {tuple(t["properties"]["type"]["enum"]) for t in template.values()}
    assert enums == {get_args(TemplateType)}
