"""The errors and warnings every layer of ipcore raises (kept apart so that any module can raise them without
importing the configs)."""

from __future__ import annotations


class ConfigError(ValueError):
    """An invalid config value: ``field`` is the offending field's name."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class IpcoreWarning(UserWarning):
    """Something a run can go on with but the user should know (the CLI prints it as ``warning: …``)."""


MAX_ERROR_LENGTH = 2000


class JobProcessError(Exception):
    """A job failed inside its own process (``ipcore.jobs.process``): ``message`` is its one-paragraph message,
    made there by ``error_message``, and ``details`` the traceback."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.message, self.details = message, details


def error_message(error: BaseException) -> str:
    """A one-paragraph message for a failed job (the traceback goes to the log, not here)."""
    if isinstance(error, JobProcessError):  # already the job's own message, made in its process
        return error.message[:MAX_ERROR_LENGTH]
    name = type(error).__name__
    text = str(error).strip()
    if isinstance(error, ConfigError) or name == "DatasetUnavailable":
        message = text or name
    elif isinstance(error, MemoryError) or name == "OutOfMemoryError":
        message = f"out of memory ({name}){': ' + text.splitlines()[0] if text else ''}"
    else:
        message = f"{name}: {text}" if text else name
    return message[:MAX_ERROR_LENGTH]
