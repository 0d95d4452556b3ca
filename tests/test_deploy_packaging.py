"""The shipped compose file and systemd units, validated statically (container images cannot be pulled
here): by docker-compose's own parser and systemd-analyze, plus the promises they must keep."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


def _secret_names() -> list[str]:
    lines = (DEPLOY / "telecare.env.example").read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]


def _compose_config(tmp_path: Path, *, leave_out: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: run scripts/setup.sh"
    env_file = tmp_path / "telecare.env"
    values = {name: f"/srv/telecare/{name.lower()}" if name.endswith("_DIR") else f"dummy-{name.lower()}-0123456789"
              for name in _secret_names() if name != leave_out}
    env_file.write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")
    return subprocess.run([binary, "--env-file", str(env_file), "-f", str(COMPOSE), "config"], capture_output=True,
                          text=True, timeout=60, check=False, cwd=tmp_path)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The compose file as docker-compose resolves it, with every secret of the example env file set."""
    done = _compose_config(tmp_path_factory.mktemp("compose"))
    assert done.returncode == 0, done.stderr
    resolved: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return resolved


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            found.append((source, target))
    return found


def test_compose_file_is_valid_and_refuses_to_start_without_any_secret(tmp_path: Path,
                                                                        services: dict[str, Any]) -> None:
    """With every secret of the example env file it validates; without one it is refused, by name."""
    assert "migrate" in services
    # Each secret is only ever used as ${NAME:?...} (required), never with a default...
    text = COMPOSE.read_text(encoding="utf-8")
    for name in _secret_names():
        uses = re.findall(r"\$\{" + name + r"(.)", text)
        assert uses and set(uses) == {":"} and f"${{{name}:-" not in text, name
    # ...and compose itself refuses to go on without one (the first that is missing is named).
    refused = _compose_config(tmp_path, leave_out="TELECARE_SECRET_KEY")
    assert refused.returncode != 0 and "TELECARE_SECRET_KEY" in refused.stderr


def test_compose_wires_the_alarm_path_as_documented(services: dict[str, Any]) -> None:
    """Migration first, every image pinned, the shipped broker and proxy configs, two ingest workers with
    their own broker users on one share group, two rules workers, two API processes."""
    ours = {name: service for name, service in services.items() if service["image"].startswith("telecare:")}
    assert services["migrate"]["command"] == ["db", "migrate"]
    for name, service in ours.items():
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    for name, service in services.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name} image {image!r} is not pinned"
    for service in services.values():
        for source, _target in _mounts(service):
            if source.startswith(str(REPO)):
                assert Path(source).exists(), f"compose mounts {source}, which the repository lacks"
    broker_config = [source for source, target in _mounts(services["mosquitto"])
                     if target == "/mosquitto/config/mosquitto.conf"]
    assert [Path(source) for source in broker_config] == [DEPLOY / "mosquitto" / "mosquitto.conf"]
    ingest = {name: service["environment"] for name, service in ours.items() if service["command"] == ["ingest"]}
    assert len(ingest) == 2
    assert len({env["TELECARE_MQTT_CLIENT_ID"] for env in ingest.values()}) == 2
    assert {env["TELECARE_MQTT_SHARE_GROUP"] for env in ingest.values()} == {"telecare"}
    for env in ingest.values():
        user = env["TELECARE_MQTT_CLIENT_ID"]
        assert env["TELECARE_MQTT_URL"].startswith(f"mqtts://{user}:")
        assert env["TELECARE_MQTT_PRIORITY_URL"].startswith(f"mqtts://{user}-priority:")
    assert sum(service["command"] == ["rules"] for service in ours.values()) == 2
    api = [service for service in ours.values() if service["command"] == ["api"]]
    upstream = re.findall(r"server 127\.0\.0\.1:(\d+)", (DEPLOY / "nginx" / "telecare.conf").read_text())
    assert sorted(service["environment"]["TELECARE_API_PORT"] for service in api) == sorted(upstream)
    assert all(service["network_mode"] == "service:nginx" for service in api)


def _defined_metrics() -> set[str]:
    source = (REPO / "ingest" / "metrics.py").read_text() + (REPO / "api" / "metrics.py").read_text()
    return {name.removesuffix("_total") for name in re.findall(r'"(telecare_[a-z_]+)"', source)}


def test_dashboard_and_scrape_targets_match_what_the_service_exposes(services: dict[str, Any]) -> None:
    """Every series the Grafana dashboard plots is a metric the code defines; Prometheus scrapes every
    ingest worker on its metrics port and every API process."""
    dashboard = (DEPLOY / "grafana" / "dashboards" / "telecare.json").read_text()
    plotted = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in re.findall(r"telecare_[a-z_]+", dashboard)}
    plotted.discard("telecare_prometheus")  # the datasource uid
    assert plotted and plotted <= _defined_metrics(), plotted - _defined_metrics()
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {target for job in scrape["scrape_configs"] for config in job["static_configs"]
               for target in config["targets"]}
    expected = {f"{name}:{service['environment']['TELECARE_METRICS_PORT']}" for name, service in services.items()
                if service.get("command") == ["ingest"]}
    expected |= {f"nginx:{service['environment']['TELECARE_API_PORT']}" for service in services.values()
                 if service.get("command") == ["api"]}
    assert targets == expected


@pytest.mark.parametrize("instances", [["telecare-migrate.service", "telecare-ingest@1.service",
                                        "telecare-rules@1.service", "telecare-api@8081.service",
                                        "telecare-retention.service", "telecare-retention.timer",
                                        "telecare-backup.service", "telecare-backup.timer"]])
def test_systemd_units_verify_and_start_after_the_migration(tmp_path: Path, instances: list[str]) -> None:
    """systemd-analyze finds nothing wrong (with the install path pointed at this checkout), and every
    long-running unit requires the migration unit and starts after it."""
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text(encoding="utf-8").replace("/opt/telecare/.venv/bin/telecare",
                                                        str(REPO / ".venv" / "bin" / "telecare"))
        (tmp_path / unit.name).write_text(text.replace("/opt/telecare/deploy", str(DEPLOY)), encoding="utf-8")
        if unit.name.endswith("@.service") or unit.name == "telecare-retention.service":
            assert "Requires=telecare-migrate.service" in text and "After=telecare-migrate.service" in text
        if unit.name.endswith("@.service"):
            assert "Restart=always" in text
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *instances], capture_output=True, text=True,
                          timeout=60, check=False, cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (0, "")
