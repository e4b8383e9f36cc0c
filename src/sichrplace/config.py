"""Settings: one pydantic-settings class per concern, all under the SICHRPLACE_ prefix."""

from __future__ import annotations

import getpass
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    # The postgres OS user must be able to enter every folder above its data directory, and a
    # checkout under a private home (root's is 0700) is not enterable: keep data under /var/tmp,
    # one folder per checkout so two clones do not share a database.
    tag = hashlib.sha1(str(PROJECT_ROOT).encode()).hexdigest()[:8]
    return Path("/var/tmp") / f"sichrplace-{getpass.getuser()}" / tag


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_APP_")

    environment: Literal["development", "test", "production"] = "development"
    git_sha: str = "unknown"
    max_json_body_bytes: int = 1024 * 1024
    max_upload_body_bytes: int = 10 * 1024 * 1024 + 64 * 1024
    drain_seconds: float = 2.0
    public_base_url: str = "http://127.0.0.1:58080"


class StackSettings(BaseSettings):
    """Ports and folders of the local production-like stack."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_STACK_")

    data_dir: Path = Field(default_factory=_default_data_dir)
    primary_port: int = 55432
    replica_port: int = 55433
    pgbouncer_port: int = 56432
    redis_port: int = 56379
    api_base_port: int = 58001
    api_instances: int = 2
    nginx_port: int = 58080
    smtp_port: int = 58025
    workers: int = 1


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_DB_")

    host: str = "127.0.0.1"
    port: int = 56432  # PgBouncer
    direct_port: int = 55432  # the primary itself, for migrations and the job worker's LISTEN
    name: str = "sichrplace"
    replica_name: str = "sichrplace_ro"
    user: str = "sichrplace"
    password: SecretStr = SecretStr("sichrplace-dev")
    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout_seconds: float = 5.0
    connect_timeout_seconds: int = 3
    statement_timeout_ms: int = 5000
    replica_max_lag_seconds: float = 5.0
    replica_check_interval_seconds: float = 1.0

    def _url(self, port: int, name: str, driver: str = "postgresql+psycopg") -> str:
        pw = self.password.get_secret_value()
        return f"{driver}://{self.user}:{pw}@{self.host}:{port}/{name}"

    @property
    def primary_url(self) -> str:
        return self._url(self.port, self.name)

    @property
    def replica_url(self) -> str:
        return self._url(self.port, self.replica_name)

    @property
    def direct_url(self) -> str:
        return self._url(self.direct_port, self.name)

    @property
    def direct_dsn(self) -> str:
        """libpq DSN of the primary itself (no pooler), for psycopg users outside SQLAlchemy."""
        return self._url(self.direct_port, self.name, driver="postgresql")


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_REDIS_")

    url: str = "redis://127.0.0.1:56379/0"
    socket_timeout_seconds: float = 0.5
    max_connections: int = 64


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_SMTP_")

    host: str = "127.0.0.1"
    port: int = 58025
    sender: str = "SichrPlace <no-reply@sichrplace.local>"
    timeout_seconds: float = 5.0


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_LOG_")

    level: str = "INFO"
    json_output: bool = True


class Settings:
    """All settings, grouped by concern."""

    def __init__(self) -> None:
        self.app = AppSettings()
        self.stack = StackSettings()
        self.db = DatabaseSettings()
        self.redis = RedisSettings()
        self.smtp = SmtpSettings()
        self.log = LoggingSettings()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def secret_is_default(value: SecretStr, default: str) -> bool:
    return value.get_secret_value() in ("", default)
