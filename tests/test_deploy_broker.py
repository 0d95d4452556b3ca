"""The shipped production broker config, started for real: who is refused, and the service over TLS.

Mosquitto runs from deploy/mosquitto/mosquitto.conf (only folders, port and log changed), with the
certificates from deploy/scripts/make_site_ca.sh and the passwd/acl that `telecare broker credentials`
generates from a site file.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import asyncpg
import orjson
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from ingest.service import run_ingest
from telecare.local_broker import LocalBroker, production_config
from telecare.settings import Settings, SettingsError, load_settings
from telecare.site import SiteFile, provision_site
from tests.support import wait_until

REPO = Path(__file__).resolve().parent.parent
INGEST_USER = "telecare-ingest"


@dataclass
class SecuredBroker:
    """A broker started from the production config, and the clear passwords generated for it."""

    broker: LocalBroker
    config_dir: Path
    ca_file: Path
    passwords: dict[str, str]
    hubs: tuple[str, str]
    org_id: str


def _telecare(*args: str) -> str:
    env = {**os.environ, "TELECARE_DEV_MODE": "true"}
    done = subprocess.run([str(Path(sys.executable).parent / "telecare"), *args], env=env, capture_output=True,
                          text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """CA, credentials and ACL for a two-hub site, and Mosquitto running the shipped config."""
    work = tmp_path_factory.mktemp("secured-broker")
    config_dir, data_dir = work / "config", work / "data"
    token = os.urandom(4).hex()
    hubs = (f"hub-a-{token}", f"hub-b-{token}")
    org_id = f"org-{token}"
    subprocess.run([str(REPO / "deploy/scripts/make_site_ca.sh"), str(config_dir / "certs"), "127.0.0.1",
                    "localhost"], check=True, capture_output=True, timeout=60)
    site = {"organisation": {"id": org_id, "name": "Secured"},
            "residents": [{"id": f"res-{hub}", "name": f"Resident {hub}",
                           "hubs": [{"id": hub, "protocol": "canonical"}]} for hub in hubs]}
    site_path = work / "site.yaml"
    site_path.write_text(yaml.safe_dump(site), encoding="utf-8")
    change = json.loads(_telecare("broker", "credentials", "--site", str(site_path), "--dir", str(config_dir)))
    assert sorted(change["added"]) == sorted([*hubs, INGEST_USER, INGEST_USER + "-priority"])
    passwords = json.loads((config_dir / "new-credentials.json").read_text(encoding="utf-8"))
    assert (config_dir / "passwd").stat().st_mode & 0o077 == 0
    broker = LocalBroker(data_dir=data_dir)
    broker.config_text = production_config(config_dir=config_dir, data_dir=data_dir, port=broker.port)
    with broker:
        yield SecuredBroker(broker=broker, config_dir=config_dir, ca_file=config_dir / "certs" / "ca.crt",
                            passwords=passwords, hubs=hubs, org_id=org_id)


class Probe:
    """One paho client: how the broker answered its CONNECT, and what it received."""

    def __init__(self, *, secured: SecuredBroker, user: str | None, password: str | None, client_id: str = "",
                 tls: bool = True) -> None:
        self.client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=paho.MQTTv5)
        if user is not None:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(secured.ca_file)))
        self.answered = threading.Event()
        self.reason: ReasonCode | None = None
        self.session_present = False
        self.publish_refusals: list[str] = []
        self.disconnected = threading.Event()
        self.received: list[str] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
        self.client.on_message = lambda _c, _u, message: self.received.append(message.topic)
        self.client.on_publish = self._on_publish
        self._port = secured.broker.port

    def _on_connect(self, _client: paho.Client, _userdata: object, flags: paho.ConnectFlags, reason: ReasonCode,
                    _properties: object) -> None:
        self.session_present = flags.session_present
        self.reason = reason
        self.answered.set()

    def _on_publish(self, _client: paho.Client, _userdata: object, _mid: int, reason: ReasonCode,
                    _properties: object) -> None:
        if reason.is_failure:
            self.publish_refusals.append(str(reason))

    def connect(self, *, clean_start: bool = True) -> bool:
        """Whether the broker accepted the connection (False when refused or the TLS handshake failed)."""
        try:
            self.client.connect("127.0.0.1", self._port, keepalive=10, clean_start=clean_start)
        except (OSError, ssl.SSLError):
            return False
        self.client.loop_start()
        self.answered.wait(timeout=10)
        self.disconnected.wait(timeout=0.3)
        return self.reason is not None and not self.reason.is_failure and not self.disconnected.is_set()

    def publish(self, *, topic: str, payload: bytes) -> None:
        """Publish at QoS 1 and wait for the broker's PUBACK."""
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=10)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def _event(*, event_id: str, kind: str = "personal_trigger") -> bytes:
    return orjson.dumps({"schema": "telecare.event/1", "event_id": event_id, "time": datetime.now(UTC).isoformat(),
                         "device": {"id": "pendant", "type": "personal_trigger", "location": "bedroom"}, "kind": kind})


def _service_settings(*, secured: SecuredBroker, database_url: str) -> Settings:
    password = quote(secured.passwords[INGEST_USER], safe="")
    priority = quote(secured.passwords[INGEST_USER + "-priority"], safe="")
    port = secured.broker.port
    return Settings(database_url=database_url, mqtt_url=f"mqtts://{INGEST_USER}:{password}@127.0.0.1:{port}",
                    mqtt_priority_url=f"mqtts://{INGEST_USER}-priority:{priority}@127.0.0.1:{port}",
                    mqtt_ca_file=str(secured.ca_file), mqtt_client_id=INGEST_USER, dev_mode=True)


@pytest.fixture
async def secured_ingest(secured_broker: SecuredBroker, database_url: str,
                         db: asyncpg.Connection) -> AsyncIterator[SecuredBroker]:
    """The site provisioned and `telecare ingest` consuming over TLS with the service's own credential."""
    await provision_site(connection=db, site=SiteFile.model_validate({
        "organisation": {"id": secured_broker.org_id, "name": "Secured"},
        "residents": [{"id": f"res-{hub}", "name": hub, "hubs": [{"id": hub, "protocol": "canonical"}]}
                      for hub in secured_broker.hubs]}))
    stop, subscribed = asyncio.Event(), asyncio.Event()
    settings = _service_settings(secured=secured_broker, database_url=database_url)
    task = asyncio.create_task(run_ingest(settings=settings, stop=stop, subscribed=subscribed), name="secured-ingest")
    await asyncio.wait_for(subscribed.wait(), timeout=20)
    yield secured_broker
    stop.set()
    await asyncio.wait_for(task, timeout=30)


def test_strangers_are_refused(secured_broker: SecuredBroker) -> None:
    """Anonymous, unknown, wrong-password and plain-text clients cannot connect at all."""
    hub_a = secured_broker.hubs[0]
    refused = {
        "anonymous": Probe(secured=secured_broker, user=None, password=None),
        "unknown user": Probe(secured=secured_broker, user="intruder", password="guess-guess-guess"),
        "hub with a wrong password": Probe(secured=secured_broker, user=hub_a, password="not-the-password"),
        "plain text with a valid password": Probe(secured=secured_broker, user=hub_a,
                                                  password=secured_broker.passwords[hub_a], tls=False),
    }
    accepted = {name: probe.connect() for name, probe in refused.items()}
    for probe in refused.values():
        probe.close()
    assert accepted == dict.fromkeys(refused, False)
    hub = Probe(secured=secured_broker, user=hub_a, password=secured_broker.passwords[hub_a])
    assert hub.connect(), "a hub with its own credential over TLS must be accepted"
    hub.close()


async def _alarms(db: asyncpg.Connection, hub_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM events WHERE hub_id = $1 AND kind = 'personal_trigger'",
                                 hub_id))


async def test_hub_cannot_speak_for_another_and_ids_cannot_be_taken(secured_ingest: SecuredBroker,
                                                                    db: asyncpg.Connection) -> None:
    """Over TLS with its own credential the service stores hub A's alarm; hub A forging hub B's alarm,
    or connecting with the ingest's client id, changes nothing: the forged alarm never lands, the
    ingest keeps its session and still stores the next alarm."""
    secured = secured_ingest
    hub_a, hub_b = secured.hubs
    hub = Probe(secured=secured, user=hub_a, password=secured.passwords[hub_a])
    assert hub.connect()
    hub.publish(topic=f"telecare/v1/{hub_b}/events", payload=_event(event_id="forged"))
    hub.publish(topic=f"z2m/{hub_b}/bridge/devices", payload=b"[]")
    hub.publish(topic=f"telecare/v1/{hub_a}/events", payload=_event(event_id="own-1"))

    async def own_alarm_stored() -> bool:
        return await _alarms(db, hub_a) == 1

    await wait_until(own_alarm_stored, timeout_s=20, what="hub A's own alarm stored over TLS")
    # Published before the own alarm on the same connection: had the broker let it through, it would be here.
    assert await _alarms(db, hub_b) == 0
    # The hub is told: MQTT 5 PUBACK "Not authorized" for both forged publishes.
    assert hub.publish_refusals == ["Not authorized", "Not authorized"]

    # Hub A asks for the ingest's client id and subscribes to everything: the broker names its session
    # after its user name, so the ingest is not thrown off, and the ACL lets it read nothing.
    impostor = Probe(secured=secured, user=hub_a, password=secured.passwords[hub_a], client_id=INGEST_USER)
    assert impostor.connect(clean_start=False)
    # Had it been given the ingest's id, it would have resumed the ingest's persistent session.
    assert not impostor.session_present
    impostor.client.subscribe([("telecare/v1/#", 1), ("z2m/#", 1), ("$share/ingest/telecare/v1/#", 1)])
    await asyncio.sleep(0.5)
    hub_b_probe = Probe(secured=secured, user=hub_b, password=secured.passwords[hub_b])
    assert hub_b_probe.connect()
    hub_b_probe.publish(topic=f"telecare/v1/{hub_b}/events", payload=_event(event_id="own-b"))

    async def hub_b_alarm_stored() -> bool:
        return await _alarms(db, hub_b) == 1

    await wait_until(hub_b_alarm_stored, timeout_s=20, what="hub B's alarm stored while an impostor holds its id")
    assert impostor.received == [], "the ACL must not let a hub read other hubs' telemetry"
    for probe in (hub, impostor, hub_b_probe):
        probe.close()


def test_rotating_a_hub_credential(secured_broker: SecuredBroker) -> None:
    """After the rotation script the old password is refused and the new one works."""
    hub_b = secured_broker.hubs[1]
    old = secured_broker.passwords[hub_b]
    process = secured_broker.broker.process
    assert process is not None
    env = {**os.environ, "TELECARE_DEV_MODE": "true",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(REPO / "deploy/scripts/rotate_hub_credential.sh"), str(secured_broker.config_dir), hub_b,
                    str(process.pid)], env=env, check=True, capture_output=True, timeout=60)
    new = json.loads((secured_broker.config_dir / "new-credentials.json").read_text(encoding="utf-8"))[hub_b]
    assert new != old

    def accepted(password: str) -> bool:
        probe = Probe(secured=secured_broker, user=hub_b, password=password)
        try:
            return probe.connect()
        finally:
            probe.close()

    # The broker reloads on SIGHUP asynchronously; give it a moment.
    for _ in range(50):
        if not accepted(old):
            break
        threading.Event().wait(0.1)
    assert (accepted(old), accepted(new)) == (False, True)
    secured_broker.passwords[hub_b] = new


def test_a_broker_user_without_a_priority_credential_is_refused() -> None:
    """Under the ingest's own user the lane would take over its session: the service refuses to start."""
    with pytest.raises(SettingsError, match="TELECARE_MQTT_PRIORITY_URL"):
        load_settings(mqtt_url="mqtts://telecare-ingest:secret@broker:8883", dev_mode=True)
    assert load_settings(mqtt_url="mqtts://telecare-ingest:secret@broker:8883", dev_mode=True,
                         priority_lane=False).priority_lane is False
