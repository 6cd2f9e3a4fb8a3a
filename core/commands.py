"""Pure: the `/catalyst` comment-command grammar (no I/O).

`parse_comment(body)` answers one of three things, Atlantis style: `NotACommand` (say nothing),
`UsageReply(text)` (reply once with usage and a did-you-mean) or `Commands` (run them in order).

Hygiene, after Prow: a command is a line that starts with `/catalyst` (up to three leading
spaces, as Markdown allows); the verb is case-insensitive; one command per line, at most
`MAX_COMMANDS` per comment. Quoted lines (`>`), fenced code (``` or ~~~) and indented code are
never read, so quoting someone else's command, or a bot pasting our help text, fires nothing.
A comment with any malformed command line runs none of its commands: the author gets one usage
reply and can post a corrected comment.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Final, Literal

from core.model import Permission

Verb = Literal["help", "status", "logs", "redeploy", "rebuild", "deploy", "teardown"]

INVOCATION: Final = "/catalyst"
MAX_COMMANDS: Final = 3
MAX_LINE: Final = 200
MAX_ECHO: Final = 40
LOG_LINES_DEFAULT: Final = 50
LOG_LINES_MAX: Final = 200


@dataclass(frozen=True, slots=True)
class VerbSpec:
    """One verb's whole definition: its help line, who may run it by default, its aliases.

    The effect lives with the flows (`workers.commands.effect_of`, exhaustive over `Verb`, so a
    verb without an effect fails the type check and tests/workers/test_verb_table.py).
    """

    help: str
    permission: Permission
    aliases: tuple[str, ...] = ()


# The one table of verbs: grammar (this module), permissions (core.policy) and help text read it.
VERBS: Final[dict[Verb, VerbSpec]] = {
    "help": VerbSpec("show this help", "read"),
    "status": VerbSpec(
        "reply with the preview's phase, URL, commit, last failure and pods", "read"
    ),
    # logs may show more than the PR's readers should see
    "logs": VerbSpec(
        "reply with the last log lines of each pod (`logs [service] [--lines N]`)", "write"
    ),
    "redeploy": VerbSpec("roll out the current commit again", "write"),
    "rebuild": VerbSpec("build the current commit again from scratch, then roll it out", "write"),
    "deploy": VerbSpec(
        "opt this PR in, bring a torn-down preview back, or approve a fork PR's head commit",
        "write",
    ),
    "teardown": VerbSpec(
        "remove the preview until the next push or `/catalyst deploy`",
        "write",
        aliases=("destroy", "stop"),
    ),
}
ALIASES: Final[dict[str, Verb]] = {
    alias: verb for verb, spec in VERBS.items() for alias in spec.aliases
}

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_QUOTE = re.compile(r"^ {0,3}>")
_INDENTED_CODE = re.compile(r"^( {4,}|\t)")
_COMMAND_LINE = re.compile(r"^ {0,3}(\S+)(.*)$")
_SERVICE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f`@<>\[\]\\|*_~]")


@dataclass(frozen=True, slots=True)
class Command:
    """One parsed command: a canonical verb and its arguments."""

    verb: Verb
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Commands:
    """A comment holding valid commands, in the order written (duplicates dropped)."""

    commands: tuple[Command, ...]


@dataclass(frozen=True, slots=True)
class UsageReply:
    """A comment that tried to be a command but was not a valid one: reply with this text."""

    text: str


@dataclass(frozen=True, slots=True)
class NotACommand:
    """A comment with no command line: stay silent."""


ParseResult = NotACommand | UsageReply | Commands


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why one command line was rejected."""

    message: str


def parse_comment(body: str) -> ParseResult:
    """Read the commands of a newly created PR comment."""
    lines = [line for line in command_lines(body)]
    if not lines:
        return NotACommand()
    parsed = [parse_line(line) for line in lines]
    problems = [p.message for p in parsed if isinstance(p, _Problem)]
    if len(lines) > MAX_COMMANDS:
        problems.append(f"At most {MAX_COMMANDS} commands per comment (found {len(lines)}).")
    if problems:
        return UsageReply(usage_text(problems))
    return Commands(_unique([c for c in parsed if isinstance(c, Command)]))


def command_lines(body: str) -> list[str]:
    """The lines outside quotes and code whose first word is the invocation word."""
    found: list[str] = []
    fence: str | None = None
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        fence = _next_fence(line, fence)
        if fence is not None or _FENCE.match(line) or _is_ignored(line):
            continue
        if _first_word(line).lower() == INVOCATION:
            found.append(line)
    return found


def _next_fence(line: str, fence: str | None) -> str | None:
    """The code fence still open after `line` (None when outside code)."""
    match = _FENCE.match(line)
    if fence is None:
        return match.group(1) if match else None
    return None if match and _closes(match.group(1), fence, line) else fence


def _closes(marker: str, fence: str, line: str) -> bool:
    # CommonMark: same character, at least as long, and nothing after it on the line.
    rest = line.strip()[len(marker) :]
    return marker[0] == fence[0] and len(marker) >= len(fence) and not rest.strip()


def _is_ignored(line: str) -> bool:
    return bool(_QUOTE.match(line) or _INDENTED_CODE.match(line))


def _first_word(line: str) -> str:
    match = _COMMAND_LINE.match(line)
    return match.group(1) if match else ""


def parse_line(line: str) -> Command | _Problem:
    """One `/catalyst ...` line as a command, or the problem with it."""
    if len(line) > MAX_LINE:
        return _Problem(f"A command line may be at most {MAX_LINE} characters long.")
    words = line.split()[1:]
    if not words:
        return Command("help")
    verb = canonical_verb(words[0])
    if verb is None:
        return _Problem(_unknown_verb_message(words[0]))
    return _check_args(verb, tuple(words[1:]))


def canonical_verb(word: str) -> Verb | None:
    """The verb `word` names (aliases and case folded), or None."""
    lowered = word.lower()
    for verb in VERBS:
        if verb == lowered:
            return verb
    return ALIASES.get(lowered)


def _check_args(verb: Verb, args: tuple[str, ...]) -> Command | _Problem:
    if verb == "logs":
        return parse_logs_args(args)
    # Otherwise only `help` takes an argument: the verb to explain.
    if verb == "help" and len(args) == 1 and canonical_verb(args[0]) is not None:
        return Command("help", (str(canonical_verb(args[0])),))
    if verb == "help" and len(args) == 1:
        return _Problem(f"`help` takes a command name; {_unknown_verb_message(args[0])}")
    if args:
        shown = echo(" ".join(args))
        return _Problem(f"`{verb}` takes no arguments (got `{shown}`).")
    return Command(verb)


def parse_logs_args(args: tuple[str, ...]) -> Command | _Problem:
    """`logs [service] [--lines N]` as Command("logs", (service or "", str(lines)))."""
    service, lines, rest = "", str(LOG_LINES_DEFAULT), list(args)
    while rest:
        word = rest.pop(0)
        if word.startswith("--lines"):
            value = word.partition("=")[2] or (rest.pop(0) if rest else "")
            if not value.isdigit() or not 1 <= int(value) <= LOG_LINES_MAX:
                return _Problem(f"`--lines` takes a number from 1 to {LOG_LINES_MAX}.")
            lines = str(int(value))
        elif not service and _SERVICE.fullmatch(word):
            service = word.lower()
        else:
            return _Problem(f"`logs` takes one service name and `--lines N` (got `{echo(word)}`).")
    return Command("logs", (service, lines))


def _unknown_verb_message(word: str) -> str:
    message = f"Unknown command `{echo(word)}`."
    guess = did_you_mean(word)
    return f"{message} Did you mean `{INVOCATION} {guess}`?" if guess else message


def did_you_mean(word: str) -> str | None:
    """The verb or alias closest to `word`, when one is close enough."""
    candidates = [*VERBS, *ALIASES]
    matches = difflib.get_close_matches(word.lower()[:MAX_ECHO], candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def echo(text: str) -> str:
    """User text made safe to quote back: no mentions, markup or control characters, short."""
    cleaned = _UNPRINTABLE.sub("", text)
    return cleaned if len(cleaned) <= MAX_ECHO else cleaned[: MAX_ECHO - 1] + "…"


def _unique(commands: list[Command]) -> tuple[Command, ...]:
    return tuple(dict.fromkeys(commands))


def usage_text(problems: list[str]) -> str:
    """The one usage reply: what was wrong, then the command list."""
    listed = "\n".join(f"- {p}" for p in problems)
    return f"{listed}\n\n{help_text()}"


def help_text(permissions: dict[str, str] | None = None, *, only: Verb | None = None) -> str:
    """The command reference; with `permissions`, each verb shows who may run it."""
    rows = [_help_row(verb, permissions) for verb in VERBS if only in (None, verb)]
    aliases = ", ".join(f"`{a}`" for a in ALIASES)
    return (
        "**Catalyst preview commands** (one per line, at the start of a new comment):\n\n"
        + "\n".join(rows)
        + f"\n\n`teardown` can also be written as {aliases}."
    )


def _help_row(verb: Verb, permissions: dict[str, str] | None) -> str:
    needs = f" (needs {permissions[verb]} access)" if permissions and verb in permissions else ""
    return f"- `{INVOCATION} {verb}`: {VERBS[verb].help}{needs}"
