"""The errors recall_jax reports to its users, and how an entry point prints them.

Every user-facing error is a `RecallJaxError`: its message says what is wrong and where (file
and line, config field, checkpoint folder) and, after " ; ", what was expected or what to do.
Entry points print it as one line, `recall_jax: <Kind>: <message>`, without a traceback, and
exit with the error's status: 2 for usage errors (config, command line, workdir), 1 for data
and runtime errors. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import os

DEBUG_VARIABLE = "RECALL_JAX_DEBUG"


class RecallJaxError(Exception):
    """An error caused by input or environment, reported without a traceback."""

    exit_status = 1


class UsageError(RecallJaxError):
    """The command, its config or its workdir cannot be used as given."""

    exit_status = 2


class ConfigError(UsageError, ValueError):
    """A config field has a value the code cannot use; the message names the field."""


class WorkdirError(UsageError):
    """The workdir is unusable: a file, read-only, or held by another run."""


class RunFolderError(UsageError):
    """A folder named as a finished run (compare's model folders) is not one."""


class DataNotFoundError(RecallJaxError, FileNotFoundError):
    """A data file that the config names does not exist."""


def one_line(error: BaseException) -> str:
    """`recall_jax: <Kind>: <message>` with the message's newlines folded."""
    message = " ".join(str(error).split("\n"))
    return f"recall_jax: {type(error).__name__}: {message}"


def debug_requested() -> bool:
    """Whether RECALL_JAX_DEBUG asks for tracebacks of user-facing errors too."""
    return os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0", "false", "False")
