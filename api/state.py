"""What create_app builds once per application and routes reach through dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from api.auth import FailedLoginLimiter
from api.live import AlertFeed
from api.metrics import ApiMetrics
from models.config import EvidenceConfig
from telecare.settings import Settings


@dataclass(slots=True)
class ApiState:
    """Per-application state: settings, the pool, the live feed, metrics, the sign-in limiter, evidence rules."""

    settings: Settings
    metrics: ApiMetrics
    login_limiter: FailedLoginLimiter
    # Night rules, baseline rules and cost rates for the evidence reports (defaults unless configured).
    evidence: EvidenceConfig = field(default_factory=EvidenceConfig)
    pool: asyncpg.Pool = field(init=False)
    feed: AlertFeed = field(init=False)
