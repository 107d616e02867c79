"""The production `.env` that deploy/README.md documents is enough: compose gives every service what it needs.

The `.env` block is read from the README itself, its `<placeholders>` filled
with values of their kind, and each service's environment is interpolated
from docker-compose.yml the way compose does; the service's own production
check (the one its container runs at start-up) must then pass. When
`docker-compose` is installed, it parses the file with that `.env` too.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.common.config import PRODUCTION_SETTINGS, ConfigError, check_production, load_config
from tests.support.compose import interpolate

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "deploy" / "README.md"
COMPOSE_FILE = ROOT / "docker-compose.yml"


def documented_env() -> dict[str, str]:
    """The `.env` block of deploy/README.md with each `<placeholder>` replaced by a random value."""
    text = README.read_text()
    start = text.index("Compose reads overrides from an `.env` file")
    block = re.search(r"```sh\n(.*?)```", text[start:], re.DOTALL).group(1)
    values = {}
    for line in block.splitlines():
        if line.strip() and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = re.sub(r"<[^>]*>", lambda _m: secrets.token_hex(16), value) \
                if not value.startswith("Engagement Network <") else value
    return values


def service_environment(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    environment = compose["services"][service].get("environment") or {}
    return {key: interpolate(value, dotenv) for key, value in environment.items()}


@pytest.mark.parametrize("service", sorted(PRODUCTION_SETTINGS))
def test_compose_with_the_documented_env_gives_each_service_all_production_needs(service):
    dotenv = documented_env()
    assert dotenv["ENGAGE_ENV"] == "production"
    environ = service_environment(service, dotenv)
    assert environ["ENGAGE_ENV"] == "production"
    check_production(service, load_config(service, environ=environ), environ)


@pytest.mark.parametrize("line", ["SECRET_KEY", "UNSUBSCRIBE_SECRET", "MAIL_FROM", "TOKEN_PRIVATE_KEY_FILE",
                                  "IDEAS_AMQP_PASSWORD", "PUBLIC_BASE_URL"])
def test_leaving_a_documented_line_out_stops_the_service_that_needs_it(line):
    dotenv = {name: value for name, value in documented_env().items() if name != line}
    refused = []
    for service in PRODUCTION_SETTINGS:
        environ = service_environment(service, dotenv)
        try:
            check_production(service, load_config(service, environ=environ), environ)
        except ConfigError as exc:
            refused.append((service, str(exc)))
    assert refused, f"no service noticed that {line} is missing"


def test_the_secrets_table_names_every_production_secret():
    text = README.read_text()
    for secret in ("SECRET_KEY", "UNSUBSCRIBE_SECRET", "TOKEN_PRIVATE_KEY_FILE", "<SERVICE>_MONGO_URI",
                   "GRAFANA_ADMIN_PASSWORD"):
        assert secret in text.split("## Secrets you must change", 1)[1], secret


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed")
def test_docker_compose_config_passes_with_the_documented_env(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in documented_env().items()))
    result = subprocess.run(["docker-compose", "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COMPOSE_PROJECT_NAME": "engage"})
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert resolved["notify"]["environment"]["UNSUBSCRIBE_SECRET"] != "development-only-secret"
    assert resolved["members"]["environment"]["TOKEN_PRIVATE_KEY_FILE"] == "/run/secrets/engage/token-signing-key.pem"
    assert resolved["ideas"]["environment"]["MONGO_URI"].startswith("mongodb://ideas:")
