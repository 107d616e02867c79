"""Reading docker-compose.yml as compose does, for the tests of the deployment files."""
from __future__ import annotations

import re


def interpolate(value: str, environ: dict[str, str] | None = None) -> str:
    """Resolve ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` the way compose does."""
    environ = {} if environ is None else environ

    def replace(match: re.Match) -> str:
        name, operator, default = match.group(1), match.group(2), match.group(3) or ""
        if operator == ":-":
            return environ.get(name) or default
        if operator == "-":
            return environ.get(name, default)
        return environ.get(name, "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}", replace, str(value))
