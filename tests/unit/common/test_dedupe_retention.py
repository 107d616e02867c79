"""How long dedupe marks are kept: a month by default, never less than the broker can still redeliver."""
import pytest

from services.common.config import ConfigError
from services.common.storage import dedupe_retention


def test_dedupe_marks_are_kept_thirty_days_unless_configured():
    assert dedupe_retention({}).days == 30
    assert dedupe_retention({"DEDUPE_RETENTION_DAYS": "90"}).days == 90
    assert dedupe_retention({"DEDUPE_RETENTION_DAYS": 0.5}).total_seconds() == 43200


@pytest.mark.parametrize("value", ["0", "0.005", "-3"])
def test_a_retention_shorter_than_the_broker_can_redeliver_is_refused_naming_both_settings(value):
    # The default retries (1, 5, 30, 120, 600 s) can bring an event back up to 756 s after it first arrived.
    with pytest.raises(ConfigError) as refused:
        dedupe_retention({"DEDUPE_RETENTION_DAYS": value})
    assert "DEDUPE_RETENTION_DAYS" in str(refused.value) and "EVENT_RETRY_DELAYS" in str(refused.value)


def test_a_retention_that_is_not_a_number_is_refused():
    with pytest.raises(ConfigError, match="DEDUPE_RETENTION_DAYS must be a number of days"):
        dedupe_retention({"DEDUPE_RETENTION_DAYS": "a month"})
