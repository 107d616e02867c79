"""Production refuses to start on an incomplete configuration, naming every missing setting at once."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.common.config import PRODUCTION_SETTINGS, ConfigError, check_production, load_config
from services.common.tokens import ALGORITHM, AUDIENCE, ISSUER, KeyFiles, issue, jwks

ROOT = Path(__file__).resolve().parents[3]

COMPLETE = {
    "ENGAGE_ENV": "production",
    "AMQP_URI": "amqp://ideas:s3cret-broker@rabbit.internal:5672/",
    "ENGAGE_AGENCY": "dta",
    "MEMBERS_JWKS_URL": "https://members.internal/.well-known/jwks.json",
    "MONGO_URI": "mongodb://ideas:s3cret-db@mongo.internal:27017/?replicaSet=rs0",
    "PUBLIC_BASE_URL": "https://engage.example.gov.au",
    "SMTP_URL": "smtp://mail.example.gov.au:587",
    "MAIL_FROM": "Engage <engage@example.gov.au>",
    "UNSUBSCRIBE_SECRET": "x" * 64,
    "SECRET_KEY": "y" * 64,
    "TOKEN_PRIVATE_KEY_FILE": "/run/secrets/engage/token-signing-key.pem",
}


def problems_of(service: str, environ: dict[str, str]) -> str | None:
    try:
        check_production(service, load_config(service, environ=environ), environ)
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("service", sorted(PRODUCTION_SETTINGS))
def test_a_complete_production_environment_passes(service):
    assert problems_of(service, COMPLETE) is None


@pytest.mark.parametrize("service", sorted(PRODUCTION_SETTINGS))
def test_production_with_nothing_set_names_every_missing_setting_in_one_message(service):
    message = problems_of(service, {"ENGAGE_ENV": "production"})
    assert message is not None
    for name in PRODUCTION_SETTINGS[service]:
        assert name in message, f"{name} is not named in: {message}"
    assert message.count("\n") == 0


def test_development_values_count_as_missing_in_production():
    environ = {**COMPLETE, "AMQP_URI": "amqp://ideas:ideas-dev-password@rabbitmq:5672/",
               "UNSUBSCRIBE_SECRET": "development-only-secret"}
    message = problems_of("notify", environ)
    assert "AMQP_URI still holds a development value" in message
    assert "UNSUBSCRIBE_SECRET still holds a development value" in message
    assert "MONGO_URI" not in message
    guest = problems_of("web", {**COMPLETE, "AMQP_URI": "amqp://guest:guest@127.0.0.1:5672/"})
    assert "AMQP_URI still holds a development value" in guest


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_test_runs_start_on_the_defaults(env):
    assert problems_of("notify", {"ENGAGE_ENV": env}) is None


def test_a_secret_is_read_from_its_file_and_the_file_wins(tmp_path):
    secret = tmp_path / "secret-key"
    secret.write_text("z" * 64 + "\n")
    environ = {**COMPLETE, "SECRET_KEY": "development-only-secret", "SECRET_KEY_FILE": str(secret)}
    config = load_config("web", environ=environ)
    assert config["SECRET_KEY"] == "z" * 64
    check_production("web", config, environ)


@pytest.mark.parametrize("service, variable, value", [
    ("notify", "AMQP_URI_FILE", "amqp://notify:s3cret@broker:5672/"),
    ("notify", "SMTP_URL_FILE", "smtp://mailer:s3cret@smtp.example.gov.au:587"),
    ("notify", "UNSUBSCRIBE_SECRET_FILE", "u" * 48),
    ("web", "REDIS_URL_FILE", "redis://:s3cret@redis:6379/0"),
])
def test_each_documented_file_setting_is_read_from_its_file(tmp_path, service, variable, value):
    held = tmp_path / variable.lower()
    held.write_text(value + "\n")
    config = load_config(service, environ={**COMPLETE, variable: str(held)})
    assert config[variable.removesuffix("_FILE")] == value


def test_an_unreadable_secret_file_is_named():
    with pytest.raises(ConfigError, match="MONGO_URI_FILE names /nowhere/mongo-uri"):
        load_config("ideas", environ={**COMPLETE, "MONGO_URI_FILE": "/nowhere/mongo-uri"})


def test_nameko_run_refuses_an_incomplete_production_configuration_with_one_line():
    environ = {key: value for key, value in os.environ.items() if key not in COMPLETE}
    environ.update({"ENGAGE_ENV": "production", "ENGAGE_AGENCY": "dta",
                    "AMQP_URI": "amqp://notify:broker-secret@127.0.0.1:1/"})
    result = subprocess.run([sys.executable, "-m", "nameko", "run", "--config", "services/notify/config.yml",
                             "services.notify.service"], cwd=ROOT, env=environ, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "configuration error" in line]
    assert len(lines) == 1, result.stderr
    for name in ("MEMBERS_JWKS_URL", "MONGO_URI", "PUBLIC_BASE_URL", "SMTP_URL", "MAIL_FROM", "UNSUBSCRIBE_SECRET"):
        assert name in lines[0]
    assert "AMQP_URI" not in lines[0] and "ENGAGE_AGENCY" not in lines[0]
    assert "Traceback" not in result.stderr


# --- the token signing key from files, and its rotation ------------------------------------------


def write_key(path: Path, public_only: bool = False) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if public_only:
        pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    path.write_bytes(pem)
    return path


def verify_with(jwk_set: dict, token: str) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in jwk_set["keys"] if key["kid"] == kid]
    return jwt.decode(token, jwt.algorithms.RSAAlgorithm.from_jwk(jwk), algorithms=[ALGORITHM], audience=AUDIENCE,
                      issuer=ISSUER)


def test_the_key_file_signs_and_every_replica_names_it_alike(tmp_path):
    path = write_key(tmp_path / "signing.pem")
    first = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(path)})
    second = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(path)})
    assert first.signing["kid"] == second.signing["kid"]
    token, _ = issue(first.signing, {"sub": "m1"}, 60)
    assert verify_with(jwks(list(first.published)), token)["sub"] == "m1"


def test_during_a_rotation_tokens_of_both_keys_verify_and_only_the_new_one_signs(tmp_path):
    old = write_key(tmp_path / "old.pem")
    new = write_key(tmp_path / "new.pem")
    before = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(old)})
    # step 1: the next key is served before anyone signs with it
    announcing = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(old), "TOKEN_VERIFY_KEY_FILES": str(new)})
    # step 2: the new key signs; the old one is served until its tokens have expired
    after = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(new), "TOKEN_VERIFY_KEY_FILES": str(old)})
    old_token, _ = issue(before.signing, {"sub": "m1"}, 60)
    new_token, _ = issue(after.signing, {"sub": "m2"}, 60)
    assert after.signing["kid"] != before.signing["kid"]
    for keys in (announcing, after):
        served = jwks(list(keys.published))
        assert verify_with(served, old_token)["sub"] == "m1"
        assert verify_with(served, new_token)["sub"] == "m2"
    assert {key["kid"] for key in announcing.published} == {key["kid"] for key in after.published}


def test_a_public_key_file_verifies_but_cannot_be_the_signing_key(tmp_path):
    public = write_key(tmp_path / "public.pem", public_only=True)
    private = write_key(tmp_path / "private.pem")
    keys = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(private), "TOKEN_VERIFY_KEY_FILES": str(public)})
    assert len(jwks(list(keys.published))["keys"]) == 2
    with pytest.raises(ConfigError, match="TOKEN_PRIVATE_KEY_FILE names .*public.pem, which does not hold"):
        KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(public)})


def test_a_missing_key_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="TOKEN_VERIFY_KEY_FILES names .*gone.pem, which cannot be read"):
        KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(write_key(tmp_path / "k.pem")),
                              "TOKEN_VERIFY_KEY_FILES": str(tmp_path / "gone.pem")})


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_the_documented_openssl_command_makes_a_key_members_can_sign_with(tmp_path):
    import re
    import shlex

    readme = (ROOT / "deploy" / "README.md").read_text()
    (command,) = re.findall(r"^openssl genpkey .*$", readme, re.MULTILINE)
    argv = [str(tmp_path / "key.pem") if part.endswith(".pem") else part for part in shlex.split(command)]
    subprocess.run(argv, check=True, capture_output=True, timeout=60)
    keys = KeyFiles.from_config({"TOKEN_PRIVATE_KEY_FILE": str(tmp_path / "key.pem")})
    token, _ = issue(keys.signing, {"sub": "m1"}, 60)
    assert verify_with(jwks(list(keys.published)), token)["sub"] == "m1"
