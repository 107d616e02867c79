"""What only the local development run shows: the caught-mail page holds everyone's mail."""
import pytest
import requests

from tests.support.platform import production_settings


@pytest.mark.parametrize("env", ["test", "production"])
def test_the_caught_mail_page_is_not_found_outside_development(platform, env, tmp_path):
    platform.start("members", "web")
    settings = production_settings("notify", tmp_path) if env == "production" else {
        "UNSUBSCRIBE_SECRET": "a long random value, as production requires"}
    platform.start("notify", ENGAGE_ENV=env, **{k: v for k, v in settings.items() if k != "ENGAGE_ENV"})
    assert requests.get(f"{platform.url('web')}/dev/mail", timeout=10).status_code == 404


def test_the_caught_mail_page_shows_in_the_local_development_run(platform):
    platform.start("members", "web")
    platform.start("notify", ENGAGE_ENV="development")
    assert requests.get(f"{platform.url('web')}/dev/mail", timeout=10).status_code == 200
