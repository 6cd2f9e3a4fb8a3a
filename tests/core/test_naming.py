"""core.naming: the exact origin vectors, the label sanitizer, properties over arbitrary text."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import naming
from core.model import Project

# reference/catalyst-origin.md §3.1 (computed vectors, shared with the origin system).
NAMESPACE_VECTORS = [
    (("my-team", "my-project", "pr-123"), "my-team-my-project-pr-123"),
    (("Acme_Corp", "Web.App", "Feature/Login--Page"), "acme-corp-web-app-feature-login-page"),
    (
        ("my-super-long-team-name", "my-super-long-project-name", "feature-very-long-branch-name"),
        "my-super-long-team-name-my-super-long-project-name-featur-f61d3",
    ),
    (("a" * 20, "b" * 20, "c" * 14 + "-" + "d" * 10), f"{'a' * 20}-{'b' * 20}-{'c' * 14}-aebe0"),
    (("team", "project", "x" * 50), "team-project-" + "x" * 50),
]


@pytest.mark.parametrize(("parts", "expected"), NAMESPACE_VECTORS)
def test_environment_namespace_vectors(parts: tuple[str, str, str], expected: str) -> None:
    assert naming.environment_namespace(*parts) == expected


def test_exactly_63_characters_stay_untouched() -> None:
    name = naming.environment_namespace("team", "project", "x" * 50)
    assert len(name) == 63 and name.endswith("x" * 50)


def test_a_hyphen_at_the_cut_is_stripped_giving_62_characters() -> None:
    name = naming.environment_namespace("a" * 20, "b" * 20, "c" * 14 + "-" + "d" * 10)
    assert len(name) == 62
    joined = "a" * 20 + "-" + "b" * 20 + "-" + "c" * 14 + "-" + "d" * 10
    assert name.endswith("-" + hashlib.sha256(joined.encode()).hexdigest()[:5])


def test_64_characters_are_shortened_to_63() -> None:
    name = naming.environment_namespace("team", "project", "x" * 51)
    assert len(name) == 63 and name.startswith("team-project-" + "x" * 44 + "-")


def test_sanitize_part_maps_runs_and_trims() -> None:
    assert naming.sanitize_part("--Hello,  World!!--") == "hello-world"
    assert naming.sanitize_part("___") == ""


def test_team_and_project_namespaces_drop_empty_parts() -> None:
    assert naming.team_namespace("Acme Corp") == "acme-corp"
    assert naming.project_namespace("acme", "Web App") == "acme-web-app"
    assert naming.environment_namespace("acme", "!!!", "pr-1") == "acme-pr-1"


def test_nothing_left_after_sanitizing_still_gives_a_stable_valid_name() -> None:
    first = naming.environment_namespace("日本", "プロジェクト", "")
    assert naming.is_dns1123_label(first)
    assert first == naming.environment_namespace("日本", "プロジェクト", "")
    assert first != naming.environment_namespace("中国", "プロジェクト", "")


# --- §3.2 label values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("feature/login", "feature-login"),
        ("refs:heads/Main", "refs-heads-Main"),  # case is kept
        ("héllo wörld", "hllowrld"),
        ("-._release-1.2_.-", "release-1.2"),
        ("", ""),
        ("ünïcödé", "ncd"),
        ("a" * 62 + "-b", "a" * 62),  # cut to 63, then the trailing '-' trimmed
        ("x" * 100, "x" * 63),
    ],
)
def test_sanitize_label_value(raw: str, expected: str) -> None:
    assert naming.sanitize_label_value(raw) == expected


# --- DNS-1123 checks ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "label", "subdomain"),
    [
        ("pr-42", True, True),
        ("a", True, True),
        ("0abc", True, True),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        ("", False, False),
        ("-a", False, False),
        ("a-", False, False),
        ("Abc", False, False),
        ("a.b", False, True),
        ("a..b", False, False),
        ("a_b", False, False),
        (".".join(["a" * 63] * 4), False, False),  # 255 characters
    ],
)
def test_dns1123_checks(name: str, label: bool, subdomain: bool) -> None:
    assert naming.is_dns1123_label(name) is label
    assert naming.is_dns1123_subdomain(name) is subdomain


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("Main_1.2-x", True),
        ("-a", False),
        ("a.", False),
        ("a/b", False),
        ("a" * 63, True),
        ("a" * 64, False),
    ],
)
def test_label_value_check(value: str, valid: bool) -> None:
    assert naming.is_label_value(value) is valid


# --- hosts, releases, jobs, labels --------------------------------------------------------------


def test_preview_host_and_url_use_the_environment_namespace() -> None:
    ns = naming.environment_namespace("acme", "web", naming.environment_name(42))
    assert naming.preview_host(ns, "Preview.Example.COM.") == "acme-web-pr-42.preview.example.com"
    assert (
        naming.preview_url(ns, "preview.example.com")
        == "https://acme-web-pr-42.preview.example.com/"
    )
    assert naming.is_dns1123_subdomain(naming.preview_host(ns, "preview.example.com"))


def test_same_environment_name_in_two_projects_gets_two_hosts() -> None:
    first = naming.environment_namespace("acme", "web", "pr-5")
    second = naming.environment_namespace("acme", "api", "pr-5")
    assert naming.preview_host(first, "d.dev") != naming.preview_host(second, "d.dev")


def test_names_of_environment_release_and_github_environment() -> None:
    assert naming.environment_name(42) == "pr-42"
    assert naming.release_name("pr-42") == "pr-42"
    assert naming.github_environment("web", "pr-42") == "web/pr-42"


def test_build_job_name() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert naming.build_job_name("web", sha) == "build-web-0123456"
    assert naming.build_job_name("Web.App/API", sha.upper()) == "build-web-app-api-0123456"
    long_name = naming.build_job_name("a-very-long-build-name-" * 4, sha)
    assert len(long_name) <= 63 and naming.is_dns1123_label(long_name)


def test_standard_labels() -> None:
    assert naming.standard_labels("Acme", "web/app", "pr-1") == {
        "app.kubernetes.io/managed-by": "catalyst-preview",
        "catalyst.dev/team": "Acme",
        "catalyst.dev/project": "web-app",
        "catalyst.dev/environment": "pr-1",
    }


# --- properties over arbitrary input -----------------------------------------------------------

ANY_TEXT = st.text(max_size=200)
# Mostly valid name characters with separators and junk, so long and hashed names come up often.
NAMEISH = st.text(alphabet=st.sampled_from("abcXYZ019-_./ é"), max_size=120)
PART = st.one_of(ANY_TEXT, NAMEISH)


@given(PART, PART, PART)
def test_every_namespace_is_a_dns1123_label(team: str, project: str, env: str) -> None:
    for name in (
        naming.team_namespace(team),
        naming.project_namespace(team, project),
        naming.environment_namespace(team, project, env),
    ):
        assert naming.is_dns1123_label(name), name


@given(PART, st.text(alphabet="0123456789abcdefABCDEF", max_size=40))
def test_every_build_job_name_is_a_dns1123_label(build: str, sha: str) -> None:
    assert naming.is_dns1123_label(naming.build_job_name(build, sha))


@given(PART)
def test_every_sanitized_label_value_is_valid(value: str) -> None:
    assert naming.is_label_value(naming.sanitize_label_value(value))


@given(PART, PART, PART)
def test_names_are_deterministic_and_short_names_untouched(team: str, proj: str, env: str) -> None:
    name = naming.environment_namespace(team, proj, env)
    assert name == naming.environment_namespace(team, proj, env)
    joined = "-".join(p for p in map(naming.sanitize_part, (team, proj, env)) if p)
    if joined and len(joined) <= 63:
        assert name == joined
    elif joined:
        assert name[-6:] == "-" + hashlib.sha256(joined.encode()).hexdigest()[:5]


# --- previews of a multi-source Project ----------------------------------------------------------


def two_repository_project() -> Project:
    """A Project whose primary source is octo/shop and whose second source is octo/api."""
    return Project.model_validate(
        {
            "metadata": {"name": "shop", "namespace": "acme"},
            "spec": {
                "sources": [
                    {"name": "app", "repositoryUrl": "https://github.com/Octo/Shop.git"},
                    {"name": "api", "repositoryUrl": "git@github.com:octo/api.git"},
                    {"name": "other-api", "repositoryUrl": "https://github.com/acme/api"},
                ]
            },
        }
    )


def test_prs_of_the_primary_repository_keep_their_pr_n_names() -> None:
    project = two_repository_project()
    assert naming.preview_environment_name(project, "octo/shop", 5) == "pr-5"
    assert naming.preview_environment_name(project, "OCTO/Shop", 5) == "pr-5"  # case-insensitive


def test_the_same_pr_number_in_another_repository_gets_its_own_name() -> None:
    project = two_repository_project()
    digest = hashlib.sha256(b"octo/api").hexdigest()[:5]
    name = naming.preview_environment_name(project, "octo/api", 5)
    assert name == f"pr-5-api-{digest}"
    assert name == naming.preview_environment_name(project, "Octo/API", 5)  # stable
    # Same repository name under another owner: still two names.
    assert naming.preview_environment_name(project, "acme/api", 5) not in ("pr-5", name)


def test_preview_of_reads_a_preview_name_back() -> None:
    project = two_repository_project()
    for repository in ("octo/shop", "octo/api", "acme/api"):
        for number in (1, 5, 51, 123456):
            name = naming.preview_environment_name(project, repository, number)
            assert naming.preview_of(project, name) == (repository, number)
    assert naming.preview_of(project, "staging") is None
    assert naming.preview_of(project, "pr-5-nope-00000") is None
    assert naming.preview_of(project, "pr-05") is None


def test_the_repository_slug_of_every_url_form() -> None:
    for url in (
        "https://github.com/Octo/Shop.git",
        "https://github.com/octo/shop/",
        "git@github.com:octo/shop.git",
        "ssh://git@github.com/octo/shop",
        "octo/shop",
    ):
        assert naming.repository_slug(url) == "octo/shop", url
    assert naming.repository_slug("not a repository") is None


@given(NAMEISH, st.integers(min_value=1, max_value=10**9))
def test_every_preview_name_is_a_dns1123_label_a_helm_release_can_have(
    repo_name: str, number: int
) -> None:
    project = two_repository_project()
    name = naming.preview_environment_name(project, f"someone/{repo_name or 'x'}", number)
    assert naming.is_dns1123_label(name) and len(name) <= naming.MAX_PREVIEW_NAME, name
    assert name.startswith(f"pr-{number}")
