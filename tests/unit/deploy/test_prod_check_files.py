"""The configuration `make prod-check` generates for HAProxy and Prometheus is what their own checkers accept.

The rig itself runs as its own CI step (`make prod-check`); these checks keep
its generated files honest without starting it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy.local.prod_check import ALERTS_FILE, Process, Replica, haproxy_config, prometheus_config, referenced_metrics


class Node:
    def __init__(self, index: int):
        self.index = index
        self.port = 5670 + index
        self.prometheus_port = 15690 + index


def replicas(tmp_path: Path) -> list[Replica]:
    found = []
    for offset, service in enumerate(("members", "ideas", "notify", "archive", "web")):
        for index in (1, 2):
            found.append(Replica(service, index, 9000 + offset * 10 + index, Process(f"{service}-{index}", [], tmp_path)))
    return found


def test_the_prometheus_configuration_scrapes_every_replica_and_broker_node_with_the_deploy_rules(tmp_path):
    config = prometheus_config(replicas(tmp_path), [Node(1), Node(2), Node(3)])
    assert config["rule_files"] == [str(ALERTS_FILE)]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {(c["labels"]["service"], c["labels"]["instance"]) for c in jobs["engage"]["static_configs"]}
    assert len(targets) == 10 and ("web", "web-2") in targets
    assert len(jobs["rabbitmq"]["static_configs"]) == 3
    assert jobs["rabbitmq-queues"]["metrics_path"] == "/metrics/detailed"
    if shutil.which("promtool"):
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config))
        result = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(not (shutil.which("haproxy") or Path("/usr/sbin/haproxy").exists()), reason="haproxy is not installed")
def test_haproxy_accepts_the_generated_configuration(tmp_path):
    all_replicas = replicas(tmp_path)
    text = haproxy_config({"amqp": 25672, "web": 28000, "members": 28001}, [Node(1), Node(2), Node(3)],
                          [r for r in all_replicas if r.service == "web"],
                          [r for r in all_replicas if r.service == "members"])
    assert "http-request set-header X-Forwarded-For %[src]" in text  # overwritten, as docs/scaling.md asks
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    result = subprocess.run([shutil.which("haproxy") or "/usr/sbin/haproxy", "-c", "-f", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_metric_names_of_a_query_are_found_for_the_live_check():
    names, regexes = referenced_metrics(
        'sum(rate(engage_web_entrypoint_calls_total{outcome="error"}[5m])) / sum(process_open_fds) + up'
        ' + {__name__=~"engage_[a-z]+_outbox_backlog"}')
    assert names == {"engage_web_entrypoint_calls_total", "process_open_fds", "up"}
    assert regexes == {"engage_[a-z]+_outbox_backlog"}
