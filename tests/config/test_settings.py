"""Configuration: file, environment, secrets by reference, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leitstand.config import SecretRef, load_config
from leitstand.config.reference import init_template, reference_markdown
from leitstand.errors import ConfigError, SecretNotFoundError

pytestmark = pytest.mark.unit


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file_put_the_database_in_the_working_directory(tmp_path: Path) -> None:
    config = load_config()
    assert config.path is None
    assert config.database_url == f"sqlite:///{Path.cwd() / '.leitstand' / 'leitstand.db'}"
    assert config.settings.use_cases["default"].model == "extractive"


def test_relative_paths_are_resolved_against_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    config = load_config(write(folder / "leitstand.yaml", "data_dir: state\n"))
    assert config.data_dir == (folder / "state").resolve()


def test_environment_overrides_the_file_and_is_read_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "l.yaml", "server:\n  port: 8100\nlanguages: [de]\n")
    config = load_config(
        path, environ={"LEITSTAND_SERVER__PORT": "9000", "LEITSTAND_LANGUAGES": "[en, de]"}
    )
    assert config.settings.server.port == 9000
    assert config.settings.languages == ["en", "de"]


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", "retreival:\n  top_k: 3\n"))
    message = str(error.value)
    assert "retreival" in message
    assert "did you mean 'retrieval'" in message


def test_wrong_value_names_key_value_and_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", "retrieval:\n  top_k: 0\n"))
    message = str(error.value)
    assert "retrieval.top_k = 0" in message
    assert "greater than or equal to 1" in message


def test_unsupported_language_lists_the_supported_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", "languages: [de, xx]\n"))
    assert "'xx'" in str(error.value)
    assert "de, " in str(error.value)


def test_invalid_yaml_reports_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", "server:\n  port: 80\n bad: [\n"))
    assert "line" in str(error.value)


def test_secrets_in_clear_text_are_refused(tmp_path: Path) -> None:
    text = (
        "models:\n  gpt:\n    base_url: https://api.example/v1\n    model: m\n    api_key: sk-123\n"
    )
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", text))
    message = str(error.value)
    assert "models.gpt.api_key" in message
    assert "$env" in message
    assert "sk-123" not in message.replace("= 'sk-123'", "")  # shown only as the offending value


def test_secret_reference_is_resolved_late_and_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (
        "models:\n  gpt:\n    base_url: https://api.example/v1\n    model: m\n"
        '    api_key: {"$env": "LEITSTAND_TEST_KEY"}\n'
    )
    config = load_config(write(tmp_path / "l.yaml", text))
    ref = config.settings.models["gpt"].api_key
    assert isinstance(ref, SecretRef)
    assert "LEITSTAND_TEST_KEY" in repr(ref)
    with pytest.raises(SecretNotFoundError, match="LEITSTAND_TEST_KEY"):
        ref.resolve()
    monkeypatch.setenv("LEITSTAND_TEST_KEY", "s3cret")
    assert ref.resolve() == "s3cret"
    assert "s3cret" not in repr(config.settings)


def test_a_configured_model_answers_by_default(tmp_path: Path) -> None:
    text = "models:\n  local:\n    base_url: http://localhost:11434/v1\n    model: llama3.1\n"
    config = load_config(write(tmp_path / "l.yaml", text))
    assert config.settings.use_cases["default"].model == "local"


def test_use_case_with_unknown_model_lists_the_allowed_ones(tmp_path: Path) -> None:
    text = "use_cases:\n  support:\n    model: gpt\ndefault_use_case: support\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", text))
    assert "use_cases.support.model = 'gpt'" in str(error.value)
    assert "extractive" in str(error.value)


def test_model_url_must_be_http(tmp_path: Path) -> None:
    text = "models:\n  x:\n    base_url: localhost:11434\n    model: m\n"
    with pytest.raises(ConfigError, match="http://"):
        load_config(write(tmp_path / "l.yaml", text))


def test_missing_explicit_config_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "nope.yaml")
    assert error.value.hint is not None
    assert "leitstand init" in error.value.hint


def test_init_template_is_valid_yaml_that_means_the_defaults(tmp_path: Path) -> None:
    template = init_template()
    assert yaml.safe_load(template) is None  # every line is a commented default
    for key in ("database_url", "ingest:", "retrieval:", "models:", "use_cases:", "server:"):
        assert f"# {key}" in template
    uncommented = "\n".join(
        line[2:]
        for line in template.splitlines()
        if line.startswith("# ingest:") or line.startswith("#   chunk_chars")
    )
    assert yaml.safe_load(uncommented) == {"ingest": {"chunk_chars": 1500}}


def test_reference_documents_every_setting() -> None:
    reference = reference_markdown()
    for key in (
        "`data_dir`",
        "`ingest.max_file_mb`",
        "`retrieval.context_weight`",
        "`models.<name>.api_key`",
        "`use_cases.<name>.sources`",
        "`server.host`",
        "`tracing.retention_days`",
    ):
        assert key in reference


def test_docs_configuration_md_is_generated_from_the_settings() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert docs.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/configuration.md is out of date: run `make docs`"
    )


def test_a_check_across_settings_says_what_is_wrong_without_dumping_the_file(
    tmp_path: Path,
) -> None:
    text = "models:\n  a:\n    base_url: http://x\n    model: m\nuse_cases:\n  foo:\n    model: a\n"
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path / "l.yaml", text))
    message = error.value.message
    assert "default_use_case = 'default' is not a use case; allowed: foo" in message
    assert "(top level)" not in message
    assert "base_url" not in message  # the file's content is not repeated back
