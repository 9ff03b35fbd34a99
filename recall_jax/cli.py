"""What the entry points share: the --debug flag, flag parsing and the one error path.

`run_entry_point(main)` runs an absl main so that a `RecallJaxError` (bad config, data,
checkpoint, workdir, run folder) and a bad command line end in one line on stderr,
`recall_jax: <Kind>: <what, where> ; <what to do>`, with exit status 2 for usage errors and 1
for data and runtime errors. `--debug` (or RECALL_JAX_DEBUG=1) shows the traceback instead.
Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import ast
import shlex
import sys
from collections.abc import Callable

from absl import app, flags

from recall_jax.errors import RecallJaxError, UsageError, debug_requested, one_line

flags.DEFINE_bool("debug", False, "Show the traceback of input and configuration errors too.")


def _unwrapped(error: BaseException) -> str:
    """The message of an error raised while parsing, without the quoting some layers add."""
    text = str(error)
    while len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
        try:
            text = str(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            break
    return " ".join(text.split())


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a bad flag, config file or config override reported as a
    usage error (config_flags raises AttributeError/KeyError/ValueError for bad overrides)."""
    try:
        return flags.FLAGS(argv)
    except (flags.Error, AttributeError, KeyError, TypeError, ValueError, OSError) as error:
        report(UsageError(f"bad command line: {_unwrapped(error)} ; run with --helpshort to "
                          "list the flags; every config field is declared in "
                          "experiments/configs/default.py"))


def flag_config():
    """FLAGS.config, whose file absl loads lazily: a missing or broken file is a usage error."""
    config = flags.FLAGS.config
    try:
        config.keys()
    except (OSError, AttributeError) as error:
        raise UsageError(f"--config: {_unwrapped(error)} ; give an experiments/configs/*.py "
                         "file") from None
    return config


def command_line(module: str, argv: list[str]) -> str:
    """`python -m <module> <argv...>` quoted for a POSIX shell, so it can be pasted as it is
    (e.g. a tuple override `--config.train.bucket_lengths=(4,8)` keeps its quotes)."""
    return shlex.join(["python", "-m", module, *argv])


def report(error: RecallJaxError) -> None:
    """Print `error` as one line on stderr and exit with its status."""
    print(one_line(error), file=sys.stderr, flush=True)
    raise SystemExit(error.exit_status)


def guarded(body: Callable[[], object]) -> object:
    """body(), with user-facing errors reported as one line unless debugging."""
    try:
        return body()
    except RecallJaxError as error:
        if flags.FLAGS.is_parsed() and flags.FLAGS.debug or debug_requested():
            raise
        report(error)


def run_entry_point(main: Callable[[list[str]], None]) -> None:
    """app.run(main) with the error path above."""
    app.run(lambda argv: guarded(lambda: main(argv)), flags_parser=_parse_flags)
