"""A private PostgreSQL cluster with TimescaleDB, for tests and benchmarks that restart the database."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from telecare.local_broker import free_port

PG_BIN = Path(os.environ.get("TELECARE_PG_BIN", "/usr/lib/postgresql/15/bin"))


class PostgresError(RuntimeError):
    """The private cluster could not be created or started."""


def _as_postgres_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the machines here run everything as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class LocalPostgres:
    """initdb + pg_ctl in a temporary folder, on a free port, with TimescaleDB preloaded."""

    port: int = field(default_factory=free_port)
    data_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="telecare-pg-")))

    @property
    def admin_url(self) -> str:
        """URL of the cluster's `postgres` database."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        """URL of a database in this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(_as_postgres_user(command), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise PostgresError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")

    def init(self) -> None:
        """Create the cluster."""
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, user="postgres", group="postgres")
        self._run([str(PG_BIN / "initdb"), "-D", str(self.data_dir / "data"), "-A", "trust", "-U", "postgres",
                   "--no-sync"])

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = (f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1"
                   " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
                   " -c fsync=off -c max_locks_per_transaction=256")
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir / "data"), "-o", options, "-w",
                   "-l", str(self.data_dir / "postgres.log"), "start"])

    def stop(self, *, mode: str = "fast") -> None:
        """Stop the cluster (`fast` rolls back open transactions; `immediate` is a crash)."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir / "data"), "-m", mode, "-w", "stop"])

    def restart(self, *, mode: str = "fast") -> None:
        """Stop then start on the same port."""
        self.stop(mode=mode)
        self.start()

    def destroy(self) -> None:
        """Stop if running and delete the folder."""
        with contextlib.suppress(PostgresError):
            self.stop(mode="immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
