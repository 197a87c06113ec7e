"""Configuration: one leitstand.yaml, environment overrides, secrets by reference."""

from leitstand.config.loading import CONFIG_FILE_NAME, Config, load_config, validate_settings
from leitstand.config.secrets import SecretRef
from leitstand.config.settings import (
    EXTRACTIVE,
    AnswerSettings,
    IngestSettings,
    ModelSettings,
    RetrievalSettings,
    ServerSettings,
    Settings,
    TracingSettings,
    UseCaseSettings,
)

__all__ = [
    "CONFIG_FILE_NAME",
    "EXTRACTIVE",
    "AnswerSettings",
    "Config",
    "IngestSettings",
    "ModelSettings",
    "RetrievalSettings",
    "SecretRef",
    "ServerSettings",
    "Settings",
    "TracingSettings",
    "UseCaseSettings",
    "load_config",
    "validate_settings",
]
