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
