"""Writing ``chat-server --config`` files for real server processes."""

import json
from typing import Any


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def toml_table(header: str, table: dict[str, Any]) -> str:
    """``[header]`` (or ``[[header]]``) and its ``key = value`` lines."""
    lines = [header, *(f"{key} = {toml_value(value)}" for key, value in table.items())]
    return "\n".join(lines) + "\n"
