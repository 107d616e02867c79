"""Configuration: nameko YAML files with ``${VAR:default}`` values, checked at start-up.

Each service's ``config.yml`` names every setting it reads. ``load_config`` reads
such a file the way ``nameko run`` does, so the CLI and the tests see exactly
what a running service sees. ``check_settings`` fails fast with a message that
names the setting, and refuses placeholder secrets outside development.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICE_NAMES = ("members", "ideas", "notify", "archive", "web")
PLACEHOLDER_SECRETS = {"", "change-me", "development-only-secret"}


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message names it and says what to do."""


def _config_loader() -> type:
    """A YAML loader with nameko's ``${VAR:default}`` substitution.

    nameko's own ``setup_yaml_parser`` installs it on ``yaml.SafeLoader`` for
    the whole process, which would make every later ``yaml.safe_load`` (of
    docker-compose.yml, say) substitute environment variables too.
    """
    from functools import partial

    from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER, env_var_constructor

    class ConfigLoader(yaml.SafeLoader):
        pass

    ConfigLoader.add_constructor("!env_var", env_var_constructor)
    ConfigLoader.add_constructor("!raw_env_var", partial(env_var_constructor, raw=True))
    ConfigLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)
    return ConfigLoader


def load_config(service: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read ``services/<service>/config.yml`` with environment substitution, as ``nameko run`` does."""
    path = ROOT / "services" / service / "config.yml"
    with path.open() as handle:
        config = yaml.load(handle, Loader=_config_loader()) or {}
    config.update(overrides or {})
    return config


def environment(config: dict[str, Any]) -> str:
    return str(config.get("ENGAGE_ENV") or "development")


def check_settings(config: dict[str, Any], required: tuple[str, ...], secrets: tuple[str, ...] = ()) -> None:
    """Raise ``ConfigError`` naming the first required setting that is empty.

    Secrets may hold a development placeholder only when ``ENGAGE_ENV`` is
    development or test.
    """
    for key in required:
        if config.get(key) in (None, ""):
            raise ConfigError(f"Setting {key} is empty: set the environment variable {key} or its line in config.yml.")
    if environment(config) not in ("development", "test"):
        for key in secrets:
            if str(config.get(key, "")) in PLACEHOLDER_SECRETS:
                raise ConfigError(
                    f"Setting {key} still holds a development placeholder; set {key} to a long random value before running in {environment(config)}."
                )


def agency_source(config: dict[str, Any], service: str) -> str:
    """The CloudEvents ``source`` of events this service publishes."""
    return f"urn:engage:{config.get('ENGAGE_AGENCY') or 'demo'}:{service}"

