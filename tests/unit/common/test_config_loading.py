"""Service configuration reads ``${VAR:default}`` like ``nameko run``, without changing YAML for anyone else."""
import yaml

from services.common.config import load_config


def test_config_values_come_from_the_environment_or_their_defaults(monkeypatch):
    monkeypatch.setenv("IDEAS_PORT", "9123")
    monkeypatch.delenv("IDEAS_DATABASE", raising=False)
    config = load_config("ideas")
    assert config["WEB_SERVER_ADDRESS"].endswith(":9123")
    assert config["MONGO_DATABASE"] == "engage_ideas"


def test_loading_a_config_leaves_plain_yaml_loading_alone(monkeypatch):
    monkeypatch.setenv("ENGAGE_AGENCY", "")
    load_config("members")
    assert yaml.safe_load("agency: ${ENGAGE_AGENCY:-demo}") == {"agency": "${ENGAGE_AGENCY:-demo}"}
