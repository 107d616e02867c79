"""Configuration: nameko YAML files with ``${VAR:default}`` values, checked at start-up.

Each service's ``config.yml`` names every setting it reads. ``load_config`` reads
such a file the way ``nameko run`` does, so the CLI and the tests see exactly
what a running service sees. ``check_settings`` fails fast with a message that
names the setting, and refuses placeholder secrets outside development.

Production (``ENGAGE_ENV=production``) is stricter: ``production_problems``
lists every setting a service needs there that was not given (or still holds a
development value), and the service container refuses to start with one
message naming them all. A secret may be given as a file instead
(``<NAME>_FILE``, see ``FILE_SETTINGS``), as container secrets are mounted.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICE_NAMES = ("members", "ideas", "notify", "archive", "web")
PLACEHOLDER_SECRETS = {"", "change-me", "development-only-secret"}


# Settings that may be given as a file holding the value (``SECRET_KEY_FILE=/run/secrets/secret-key``):
# the secrets and the addresses that carry passwords. The file wins over the plain variable.
FILE_SETTINGS = ("SECRET_KEY", "UNSUBSCRIBE_SECRET", "AMQP_URI", "MONGO_URI", "SMTP_URL", "REDIS_URL")

# What each service needs to be told in production: its development default is wrong there
# (loopback addresses, the broker's guest, the demo agency, placeholder secrets).
_EVERY_SERVICE = ("AMQP_URI", "ENGAGE_AGENCY", "MEMBERS_JWKS_URL")
PRODUCTION_SETTINGS: dict[str, tuple[str, ...]] = {
    "members": _EVERY_SERVICE + ("MONGO_URI", "PUBLIC_BASE_URL", "TOKEN_PRIVATE_KEY_FILE"),
    "ideas": _EVERY_SERVICE + ("MONGO_URI",),
    "notify": _EVERY_SERVICE + ("MONGO_URI", "PUBLIC_BASE_URL", "SMTP_URL", "MAIL_FROM", "UNSUBSCRIBE_SECRET"),
    "archive": _EVERY_SERVICE + ("MONGO_URI",),
    "web": _EVERY_SERVICE + ("PUBLIC_BASE_URL", "SECRET_KEY"),
}
# Values that only ever belong to a development or test run (compose's defaults among them).
_DEVELOPMENT_VALUES = (re.compile(r"//guest:guest@"), re.compile(r"-dev-password@"),
                       re.compile(r"^development-only-secret$"), re.compile(r"^change-me$"),
                       re.compile(r"//localhost[:/]|//localhost$|[.@]localhost\b"))


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message names it and says what to do."""


def _substitute(raw: str, environ: Mapping[str, str]) -> str:
    """nameko's ``${VAR:default}`` substitution against ``environ`` (nameko's own reads ``os.environ``)."""
    from nameko.cli.main import ENV_VAR_MATCHER

    def replace(match: re.Match) -> str:
        name, default = match.groups()
        value = environ.get(name)
        return value if value is not None else (default or "")

    return ENV_VAR_MATCHER.sub(replace, raw)


def _config_loader(environ: Mapping[str, str]) -> type:
    """A YAML loader with nameko's ``${VAR:default}`` substitution from ``environ``.

    nameko's own ``setup_yaml_parser`` installs it on ``yaml.SafeLoader`` for
    the whole process, which would make every later ``yaml.safe_load`` (of
    docker-compose.yml, say) substitute environment variables too.
    """
    from nameko.cli.main import IMPLICIT_ENV_VAR_MATCHER

    def constructor(loader, node, raw=False):
        raw_value = loader.construct_scalar(node)
        value = _substitute(raw_value, environ)
        if value == raw_value:
            return value
        return value if raw else yaml.safe_load(value)

    class ConfigLoader(yaml.SafeLoader):
        pass

    ConfigLoader.add_constructor("!env_var", constructor)
    ConfigLoader.add_constructor("!raw_env_var", lambda loader, node: constructor(loader, node, raw=True))
    ConfigLoader.add_implicit_resolver("!env_var", IMPLICIT_ENV_VAR_MATCHER, None)
    return ConfigLoader


def load_config(service: str, overrides: dict[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read ``services/<service>/config.yml`` as ``nameko run`` does, ``<NAME>_FILE`` settings included.

    ``environ`` defaults to the process environment; a test passes its own.
    """
    environ = os.environ if environ is None else environ
    path = ROOT / "services" / service / "config.yml"
    with path.open() as handle:
        config = yaml.load(handle, Loader=_config_loader(environ)) or {}
    config.update(overrides or {})
    return read_setting_files(config, environ)


def read_setting_files(config: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``config`` with each ``<NAME>_FILE`` of ``FILE_SETTINGS`` replaced by the file's content.

    A file that cannot be read is a ``ConfigError`` naming the setting and the path, never a silent default.
    """
    config = dict(config)
    for name in FILE_SETTINGS:
        path = environ.get(f"{name}_FILE") or ""
        if not path:
            continue
        try:
            config[name] = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"Setting {name}_FILE names {path}, which cannot be read ({exc.strerror}).") from None
    return config


def _development_defaults(service: str) -> dict[str, str]:
    """Each variable's default in ``services/<service>/config.yml``: what a development run gets."""
    text = (ROOT / "services" / service / "config.yml").read_text()
    return {name: default for name, default in re.findall(r"\$\{([A-Z][A-Z0-9_]*):([^}]*)\}", text)}


def production_problems(service: str, config: Mapping[str, Any], environ: Mapping[str, str]) -> list[str]:
    """Every setting ``service`` needs in production that is missing or holds a development value.

    A setting counts as given when the environment sets it (or its ``_FILE``),
    or when the config holds a value other than config.yml's development
    default; a value only a development run uses (the broker's guest, a
    ``-dev-password``, a placeholder secret) never counts.
    """
    if service not in PRODUCTION_SETTINGS:
        return []
    defaults = _development_defaults(service)
    problems = []
    for name in PRODUCTION_SETTINGS.get(service, ()):
        value = str(config.get(name) or "")
        explicit = bool(environ.get(name) or environ.get(f"{name}_FILE"))
        if not value or not (explicit or value != defaults.get(name, "")):
            problems.append(f"{name} is not set")
        elif any(pattern.search(value) for pattern in _DEVELOPMENT_VALUES):
            problems.append(f"{name} still holds a development value")
    return problems


def check_production(service: str, config: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    """In production, raise one ``ConfigError`` naming every setting that is missing; elsewhere do nothing."""
    if environment(dict(config)) != "production":
        return
    problems = production_problems(service, config, environ)
    if problems:
        raise ConfigError(
            f"{service} refuses to start with ENGAGE_ENV=production: {'; '.join(problems)}. "
            "Set each in the environment (or as <NAME>_FILE for a secret); deploy/README.md lists them.")


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

