"""One typed settings object per process, read from `TELECARE_*` environment variables."""

from __future__ import annotations

import ssl
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The priority lane's MQTT session is the ingest's client id (and broker user) with this suffix.
PRIORITY_CLIENT_SUFFIX = "-priority"
PLACEHOLDER_SECRET = "change-me-dev-only"  # noqa: S105 - the placeholder that must never run in production


class SettingsError(ValueError):
    """The configuration cannot be used as given."""


class Settings(BaseSettings):
    """Everything a telecare process needs to know; built once in `main()` and passed down."""

    model_config = SettingsConfigDict(env_prefix="TELECARE_", extra="ignore", frozen=True)

    database_url: str = "postgresql://postgres@127.0.0.1:5432/telecare"
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = "telecare-ingest"
    # The private CA that signed the broker's certificate (deploy/scripts/make_site_ca.sh), for mqtts://.
    mqtt_ca_file: str = ""
    # Zigbee2MQTT hubs publish under `<z2m_base>/<hub_id>/...` (Z2M's base_topic set per hub).
    z2m_base_topic: str = "z2m"
    # Canonical telecare events arrive on `<canonical_base>/<hub_id>/events`.
    canonical_base_topic: str = "telecare/v1"
    # MQTT 5 shared subscription group; empty for a single ingest worker.
    mqtt_share_group: str = ""
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # How many unacknowledged QoS 1 messages the broker may have in flight to us (MQTT 5 Receive Maximum).
    mqtt_receive_maximum: int = Field(default=8000, ge=1, le=65535)
    # Life-safety alarms also travel on a clean-start live session, so they never wait behind a
    # backlog queued in the persistent one (ingest/priority_lane.py).
    priority_lane: bool = True
    # The lane's broker URL with its own credentials (`<user>-priority`); needed when the broker has users.
    mqtt_priority_url: str = ""

    ingest_batch_max: int = Field(default=2000, ge=1, le=50_000)
    ingest_batch_linger_ms: int = Field(default=25, ge=0, le=5_000)
    max_payload_bytes: int = Field(default=16_384, ge=256)
    # A Zigbee2MQTT device list describes every paired device with its capabilities (`exposes`):
    # hundreds of kB for an ordinary flat, so it has a limit of its own.
    max_device_list_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    # Device clocks that are wildly off: beyond these bounds `last_seen` is not trusted.
    clock_skew_future_s: int = Field(default=300, ge=0)
    max_event_age_s: int = Field(default=7 * 24 * 3600, ge=60)

    metrics_port: int = Field(default=0, ge=0, le=65535)
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    dev_mode: bool = False
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("mqtt_url", "mqtt_priority_url")
    @classmethod
    def _mqtt_url_is_mqtt(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in {"mqtt", "mqtts"} or not parts.hostname):
            raise ValueError("TELECARE_MQTT_URL and TELECARE_MQTT_PRIORITY_URL must look like mqtt://host:1883")
        return value

    @model_validator(mode="after")
    def _priority_lane_has_its_own_user(self) -> Settings:
        # Under the same user the lane would take over the persistent session on a broker that names
        # sessions after users (deploy/mosquitto/mosquitto.conf), throwing the ingest off in a loop.
        if self.priority_lane and self.mqtt_username and not self.mqtt_priority_url:
            raise ValueError(
                "TELECARE_MQTT_URL has a user name but TELECARE_MQTT_PRIORITY_URL is not set: give the "
                f"priority lane its own credential (user '{self.mqtt_username}{PRIORITY_CLIENT_SUFFIX}'), "
                "or set TELECARE_PRIORITY_LANE=false"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _database_url_is_postgres(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"postgresql", "postgres"}:
            raise ValueError("TELECARE_DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _secret_is_real_outside_dev(self) -> Settings:
        secret = self.secret_key.get_secret_value()
        if not self.dev_mode and (secret == PLACEHOLDER_SECRET or len(secret) < 16):
            raise ValueError(
                "TELECARE_SECRET_KEY is the placeholder or shorter than 16 characters; "
                "set a real secret, or TELECARE_DEV_MODE=true for local development only"
            )
        return self

    @property
    def mqtt_host(self) -> str:
        """Broker host name from the MQTT URL."""
        return urlsplit(self.mqtt_url).hostname or "127.0.0.1"

    @property
    def mqtt_port(self) -> int:
        """Broker port from the MQTT URL (1883, or 8883 for mqtts)."""
        parts = urlsplit(self.mqtt_url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def mqtt_tls(self) -> bool:
        """Whether the broker connection uses TLS."""
        return urlsplit(self.mqtt_url).scheme == "mqtts"

    def mqtt_tls_context(self) -> ssl.SSLContext:
        """The TLS context for the broker: the site's CA when given, else the system's roots."""
        return ssl.create_default_context(cafile=self.mqtt_ca_file or None)

    @property
    def mqtt_username(self) -> str | None:
        """User name from the MQTT URL, if any."""
        return urlsplit(self.mqtt_url).username

    @property
    def mqtt_password(self) -> str | None:
        """Password from the MQTT URL, if any."""
        return urlsplit(self.mqtt_url).password


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment, with explicit overrides winning."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # One line per problem, in the variables' own names, without pydantic's links and echoed input.
        problems = [(f"TELECARE_{'_'.join(str(part) for part in error['loc']).upper()}: " if error["loc"] else "")
                    + error["msg"].removeprefix("Value error, ") for error in exc.errors()]
        raise SettingsError("; ".join(problems)) from exc
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
