"""Typed settings read once from MODISTE_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    raw = _env(name)
    return int(raw) if raw is not None else default


def _env_float(name: str, default: float) -> float:
    raw = _env(name)
    return float(raw) if raw is not None else default


def _env_list(name: str) -> list[str]:
    raw = _env(name)
    return [item.strip() for item in raw.split(",") if item.strip()] if raw else []


@dataclass(frozen=True)
class OpsSettings:
    """When the OpsAgent checks the system and what it raises alerts about."""

    check_interval_seconds: float = 15.0
    consumer_lag_events: int = 1000
    consumer_lag_seconds: float = 60.0
    relay_lag_events: int = 1000
    dead_letters: int = 0
    disk_used_ratio: float = 0.90

    @classmethod
    def from_env(cls) -> OpsSettings:
        """Read the MODISTE_OPS_* variables (documented in the README)."""
        return cls(
            check_interval_seconds=_env_float("MODISTE_OPS_CHECK_INTERVAL", 15.0),
            consumer_lag_events=_env_int("MODISTE_OPS_LAG_EVENTS", 1000),
            consumer_lag_seconds=_env_float("MODISTE_OPS_LAG_SECONDS", 60.0),
            relay_lag_events=_env_int("MODISTE_OPS_RELAY_LAG_EVENTS", 1000),
            dead_letters=_env_int("MODISTE_OPS_DEAD_LETTERS", 0),
            disk_used_ratio=_env_float("MODISTE_OPS_DISK_USED_RATIO", 0.90),
        )


@dataclass(frozen=True)
class StudioSettings:
    """The design studio and search: ONNX Runtime, models, image uploads, ranking weights."""

    onnx_providers: tuple[str, ...] = ()
    """Execution providers in order of preference; empty means the export's (CUDA, CPU)."""
    onnx_threads: int = 0
    """Intra-op threads per ONNX session; 0 lets ONNX Runtime decide."""
    clip_variant: str = "fp32"
    """Which CLIP export to run: fp32 or int8 (when exported with --int8)."""
    tiny_models: str = "auto"
    """auto: with no MODISTE_MODELS_DIR, build tiny random models under data_dir (needs the
    export extra); never: refuse, so a deployment cannot run on random weights by mistake."""
    generation_attempts: int = 3
    """Attempts per model call in the designer pipeline before a design is marked failed."""
    image_max_bytes: int = 8 * 1024 * 1024
    image_max_pixels: int = 25_000_000
    rank_alpha: float = 0.7
    rank_beta: float = 0.15
    rank_gamma: float = 0.1
    rank_delta: float = 0.05
    index_save_interval_seconds: float = 30.0
    index_poll_interval_seconds: float = 0.25

    @classmethod
    def from_env(cls) -> StudioSettings:
        """Read the MODISTE_ONNX_*, MODISTE_IMAGE_*, MODISTE_RANK_* and related variables."""
        return cls(
            onnx_providers=tuple(_env_list("MODISTE_ONNX_PROVIDERS")),
            onnx_threads=_env_int("MODISTE_ONNX_THREADS", 0),
            clip_variant=_env("MODISTE_CLIP_VARIANT", "fp32") or "fp32",
            tiny_models=(_env("MODISTE_TINY_MODELS", "auto") or "auto").lower(),
            generation_attempts=_env_int("MODISTE_GENERATION_ATTEMPTS", 3),
            image_max_bytes=_env_int("MODISTE_IMAGE_MAX_BYTES", 8 * 1024 * 1024),
            image_max_pixels=_env_int("MODISTE_IMAGE_MAX_PIXELS", 25_000_000),
            rank_alpha=_env_float("MODISTE_RANK_ALPHA", 0.7),
            rank_beta=_env_float("MODISTE_RANK_BETA", 0.15),
            rank_gamma=_env_float("MODISTE_RANK_GAMMA", 0.1),
            rank_delta=_env_float("MODISTE_RANK_DELTA", 0.05),
            index_save_interval_seconds=_env_float("MODISTE_INDEX_SAVE_INTERVAL", 30.0),
            index_poll_interval_seconds=_env_float("MODISTE_INDEX_POLL_INTERVAL", 0.25),
        )


@dataclass(frozen=True)
class Settings:
    """Everything a Modiste process needs to know about its surroundings."""

    data_dir: Path
    database_url: str | None
    nats_url: str | None
    host: str
    port: int
    jwt_secret: str | None
    jwt_ttl_seconds: int
    cors_origins: list[str]
    db_pool_size: int
    db_pool_max_overflow: int
    max_body_bytes: int
    log_level: str
    log_json: bool
    stream_name: str
    stream_replicas: int
    stream_storage: str
    stream_max_age_days: float
    stream_duplicate_window_seconds: float
    consumer_max_deliver: int
    read_wait_timeout_seconds: float
    snapshot_interval: int
    models_dir: Path | None
    cipher_key: str | None = None
    """Base64 AES key sealing personal data in events; local mode keeps one in data_dir."""
    extra: dict[str, str] = field(default_factory=dict)
    studio: StudioSettings = field(default_factory=StudioSettings)
    marketing_auto_draft: bool = False
    """Draft a launch campaign for every newly listed product (MarketingAgent policy)."""
    ops: OpsSettings = field(default_factory=OpsSettings)

    @property
    def local_mode(self) -> bool:
        """True when a server URL is missing: local mode starts real servers under data_dir."""
        return self.database_url is None or self.nats_url is None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the MODISTE_* variables (documented in the README)."""
        data_dir = Path(_env("MODISTE_DATA_DIR", ".modiste") or ".modiste").resolve()
        models_dir = _env("MODISTE_MODELS_DIR")
        return cls(
            data_dir=data_dir,
            database_url=_env("MODISTE_DATABASE_URL"),
            nats_url=_env("MODISTE_NATS_URL"),
            host=_env("MODISTE_HOST", "127.0.0.1") or "127.0.0.1",
            port=_env_int("MODISTE_PORT", 8000),
            jwt_secret=_env("MODISTE_JWT_SECRET"),
            jwt_ttl_seconds=_env_int("MODISTE_JWT_TTL_SECONDS", 3600),
            cors_origins=_env_list("MODISTE_CORS_ORIGINS"),
            db_pool_size=_env_int("MODISTE_DB_POOL_SIZE", 10),
            db_pool_max_overflow=_env_int("MODISTE_DB_POOL_MAX_OVERFLOW", 10),
            max_body_bytes=_env_int("MODISTE_MAX_BODY_BYTES", 10 * 1024 * 1024),
            log_level=_env("MODISTE_LOG_LEVEL", "INFO") or "INFO",
            log_json=(_env("MODISTE_LOG_FORMAT", "json") or "json") == "json",
            stream_name=_env("MODISTE_STREAM_NAME", "MODISTE_EVENTS") or "MODISTE_EVENTS",
            stream_replicas=_env_int("MODISTE_STREAM_REPLICAS", 1),
            stream_storage=_env("MODISTE_STREAM_STORAGE", "file") or "file",
            stream_max_age_days=_env_float("MODISTE_STREAM_MAX_AGE_DAYS", 30.0),
            stream_duplicate_window_seconds=_env_float("MODISTE_STREAM_DUPLICATE_WINDOW", 600.0),
            consumer_max_deliver=_env_int("MODISTE_CONSUMER_MAX_DELIVER", 5),
            read_wait_timeout_seconds=_env_float("MODISTE_READ_WAIT_TIMEOUT", 2.0),
            snapshot_interval=_env_int("MODISTE_SNAPSHOT_INTERVAL", 50),
            studio=StudioSettings.from_env(),
            marketing_auto_draft=(_env("MODISTE_MARKETING_AUTO_DRAFT", "false") or "false").lower()
            in ("1", "true", "yes"),
            ops=OpsSettings.from_env(),
            models_dir=Path(models_dir).resolve() if models_dir else None,
            cipher_key=_env("MODISTE_CIPHER_KEY"),
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings.from_env()
