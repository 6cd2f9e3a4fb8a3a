"""Tests: the `/catalyst` comment grammar, table-driven (core.commands)."""

from __future__ import annotations

import pytest

from core.commands import (
    MAX_COMMANDS,
    Command,
    Commands,
    NotACommand,
    ParseResult,
    UsageReply,
    help_text,
    parse_comment,
)

FENCE = "```"


def cmds(*verbs: str) -> Commands:
    """Expected commands, `help:deploy` meaning `help` with argument `deploy`."""
    parsed = [v.split(":") for v in verbs]
    return Commands(tuple(Command(p[0], tuple(p[1:])) for p in parsed))  # type: ignore[arg-type]


# (id, comment body, expected result; a UsageReply expectation holds substrings it must contain)
VALID: list[tuple[str, str, Commands]] = [
    ("help", "/catalyst help", cmds("help")),
    ("status", "/catalyst status", cmds("status")),
    ("redeploy", "/catalyst redeploy", cmds("redeploy")),
    ("rebuild", "/catalyst rebuild", cmds("rebuild")),
    ("deploy", "/catalyst deploy", cmds("deploy")),
    ("teardown", "/catalyst teardown", cmds("teardown")),
    ("alias destroy", "/catalyst destroy", cmds("teardown")),
    ("alias stop", "/catalyst stop", cmds("teardown")),
    ("alias upper case", "/catalyst STOP", cmds("teardown")),
    ("bare invocation is help", "/catalyst", cmds("help")),
    ("upper-case verb", "/catalyst REDEPLOY", cmds("redeploy")),
    ("mixed-case invocation", "/Catalyst Status", cmds("status")),
    ("extra spaces", "/catalyst     redeploy   ", cmds("redeploy")),
    ("tab between words", "/catalyst\tstatus", cmds("status")),
    ("up to three leading spaces", "   /catalyst status", cmds("status")),
    ("crlf line ends", "hi\r\n/catalyst status\r\n", cmds("status")),
    ("text around the command", "Looks good!\n/catalyst redeploy\nthanks", cmds("redeploy")),
    ("two commands in order", "/catalyst rebuild\n/catalyst status", cmds("rebuild", "status")),
    (
        "three commands",
        "/catalyst help\n/catalyst status\n/catalyst deploy",
        cmds("help", "status", "deploy"),
    ),
    ("duplicates run once", "/catalyst redeploy\n/catalyst REDEPLOY", cmds("redeploy")),
    ("alias and verb are one command", "/catalyst stop\n/catalyst teardown", cmds("teardown")),
    ("help with a verb", "/catalyst help deploy", cmds("help:deploy")),
    ("help with an alias", "/catalyst help destroy", cmds("help:teardown")),
    ("non-breaking space separator", "/catalyst\u00a0status", cmds("status")),
    ("non-ascii text around", "Merci beaucoup 🎉\n/catalyst status\nこんにちは", cmds("status")),
    (
        "command after a closed fence",
        f"{FENCE}\n/catalyst help\n{FENCE}\n/catalyst status",
        cmds("status"),
    ),
    ("command after a tilde fence", "~~~\n/catalyst help\n~~~\n/catalyst deploy", cmds("deploy")),
    ("quoted command then a real one", "> /catalyst teardown\n/catalyst status", cmds("status")),
    (
        "long comment with a command at the end",
        ("lorem ipsum " * 2000) + "\n/catalyst status",
        cmds("status"),
    ),
]

SILENT: list[tuple[str, str]] = [
    ("empty", ""),
    ("plain text", "Nice work, ship it"),
    ("mention in the middle of a line", "please run /catalyst redeploy when you can"),
    ("quoted", "> /catalyst teardown"),
    ("quoted with spaces", "  > /catalyst teardown"),
    ("nested quote", ">> /catalyst status"),
    ("fenced code", f"{FENCE}\n/catalyst teardown\n{FENCE}"),
    ("fenced code with info string", f"{FENCE}bash\n/catalyst teardown\n{FENCE}"),
    ("unclosed fence hides the rest", f"{FENCE}\n/catalyst teardown"),
    ("a shorter fence does not close a longer one", "````\n```\n/catalyst teardown\n````"),
    ("indented code", "    /catalyst teardown"),
    ("tab-indented code", "\t/catalyst teardown"),
    ("inline code", "`/catalyst teardown`"),
    ("invocation glued to a word", "/catalystredeploy"),
    ("invocation with a dash", "/catalyst-help"),
    ("list item", "- /catalyst teardown"),
    ("other bot's command", "/atlantis plan"),
    ("our own help text quoted back", "> - `/catalyst help`: show this help"),
    ("very long non-command", "x" * 100_000),
    ("non-ascii only", "🚀🚀🚀 ünïcödé ✓"),
]

USAGE: list[tuple[str, str, list[str]]] = [
    (
        "near-miss redeploy",
        "/catalyst redploy",
        ["Unknown command `redploy`", "`/catalyst redeploy`"],
    ),
    ("near-miss status", "/catalyst staus", ["Did you mean `/catalyst status`?"]),
    ("near-miss teardown", "/catalyst tear-down", ["Did you mean `/catalyst teardown`?"]),
    ("near-miss rebuild", "/catalyst rebuil", ["Did you mean `/catalyst rebuild`?"]),
    ("near-miss in capitals", "/catalyst DEPOLY", ["Did you mean `/catalyst deploy`?"]),
    ("near-miss alias", "/catalyst destory", ["Did you mean `/catalyst destroy`?"]),
    ("unknown verb, no guess", "/catalyst xyzzy", ["Unknown command `xyzzy`."]),
    (
        "argument to redeploy",
        "/catalyst redeploy now",
        ["`redeploy` takes no arguments (got `now`)"],
    ),
    ("argument to teardown", "/catalyst teardown --force", ["`teardown` takes no arguments"]),
    ("help with unknown verb", "/catalyst help deplyo", ["`help` takes a command name", "deploy"]),
    ("help with two words", "/catalyst help deploy now", ["`help` takes no arguments"]),
    (
        "too many commands",
        "\n".join(["/catalyst status"] * (MAX_COMMANDS + 1)),
        [f"At most {MAX_COMMANDS}"],
    ),
    (
        "one bad line spoils the comment",
        "/catalyst status\n/catalyst redeplo",
        ["Unknown command `redeplo`"],
    ),
    ("two bad lines in one reply", "/catalyst foo\n/catalyst bar", ["`foo`", "`bar`"]),
    ("overlong line", "/catalyst " + "a" * 300, ["at most 200 characters"]),
    ("mention is not echoed", "/catalyst @octocat", ["Unknown command `octocat`"]),
    ("markup is not echoed", "/catalyst `rm`", ["Unknown command `rm`"]),
    ("non-ascii verb", "/catalyst 部署", ["Unknown command `部署`"]),
    ("long argument is shortened", "/catalyst status " + "z" * 100, ["…"]),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_commands(body: str, expected: Commands) -> None:
    assert parse_comment(body) == expected


@pytest.mark.parametrize("body", [c[1] for c in SILENT], ids=[c[0] for c in SILENT])
def test_not_a_command(body: str) -> None:
    assert parse_comment(body) == NotACommand()


@pytest.mark.parametrize(("body", "needles"), [c[1:] for c in USAGE], ids=[c[0] for c in USAGE])
def test_usage_reply(body: str, needles: list[str]) -> None:
    result = parse_comment(body)
    assert isinstance(result, UsageReply)
    for needle in needles:
        assert needle in result.text
    assert "/catalyst help" in result.text  # the reply always carries the command list


def test_table_has_at_least_forty_cases() -> None:
    assert len(VALID) + len(SILENT) + len(USAGE) >= 40


def test_usage_reply_never_pings_or_breaks_markup() -> None:
    result: ParseResult = parse_comment("/catalyst @everyone`<b>")
    assert isinstance(result, UsageReply)
    assert "@everyone" not in result.text and "<b>" not in result.text


def test_help_text_names_every_verb_and_permission() -> None:
    text = help_text({"help": "read", "teardown": "admin"})
    for verb in ("help", "status", "redeploy", "rebuild", "deploy", "teardown"):
        assert f"`/catalyst {verb}`" in text
    assert "(needs admin access)" in text and "`destroy`" in text


def test_help_for_one_verb() -> None:
    text = help_text(only="deploy")
    assert "`/catalyst deploy`" in text and "`/catalyst status`" not in text


@pytest.mark.parametrize(
    ("line", "args"),
    [
        ("/catalyst logs", ("", "50")),
        ("/catalyst logs web", ("web", "50")),
        ("/catalyst logs --lines 120", ("", "120")),
        ("/catalyst logs Web --lines=200", ("web", "200")),
        ("/catalyst logs --lines 7 worker", ("worker", "7")),
    ],
)
def test_logs_takes_a_service_and_a_line_count(line: str, args: tuple[str, str]) -> None:
    assert parse_comment(line) == Commands((Command("logs", args),))


@pytest.mark.parametrize(
    "line",
    ["/catalyst logs --lines 201", "/catalyst logs --lines 0", "/catalyst logs --lines x",
     "/catalyst logs web worker", "/catalyst logs --lines"],
)  # fmt: skip
def test_logs_refuses_bad_arguments_with_usage(line: str) -> None:
    assert isinstance(parse_comment(line), UsageReply)
