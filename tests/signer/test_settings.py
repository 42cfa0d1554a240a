"""Settings: precedence, parsing from text, and start-up errors that name the setting."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from signer.errors import ConfigError
from signer.settings import Settings, env_values, load_settings

if TYPE_CHECKING:
    from pathlib import Path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no file and no environment, the embedded defaults apply."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.providers == ("browser", "native")
    assert settings.max_body_bytes == 64 * 1024


def test_toml_overrides_defaults(tmp_path: Path) -> None:
    """A key in the TOML file replaces the default."""
    settings = load_settings({}, write(tmp_path, 'port = 9000\nallowed_hosts = ["tiktok.com"]\n'))
    assert settings.port == 9000
    assert settings.allowed_hosts == ("tiktok.com",)


def test_env_overrides_toml(tmp_path: Path) -> None:
    """SIGNER_* beats the file."""
    path = write(tmp_path, "port = 9000\n")
    assert load_settings({"SIGNER_PORT": "9100"}, path).port == 9100


def test_signer_prefixed_env_beats_plain_alias(tmp_path: Path) -> None:
    """SIGNER_PORT wins over PORT when both are set; PORT alone is honoured."""
    path = write(tmp_path, "")
    assert load_settings({"PORT": "7000"}, path).port == 7000
    assert load_settings({"PORT": "7000", "SIGNER_PORT": "7001"}, path).port == 7001


def test_explicit_override_beats_env(tmp_path: Path) -> None:
    """Command-line options come last."""
    path = write(tmp_path, "")
    assert load_settings({"SIGNER_PORT": "9100"}, path, port=9200).port == 9200


def test_config_file_from_env(tmp_path: Path) -> None:
    """SIGNER_CONFIG names the TOML file when --config is not given."""
    path = write(tmp_path, 'log_level = "debug"\n')
    assert load_settings({"SIGNER_CONFIG": str(path)}).log_level == "debug"


def test_comma_lists_from_env(tmp_path: Path) -> None:
    """List settings read "a, b" from the environment."""
    env = {"SIGNER_PROVIDERS": "native, other", "SIGNER_SDK_FLAGS": "2,73,14"}
    settings = load_settings(env, write(tmp_path, ""))
    assert settings.providers == ("native", "other")
    assert settings.flags == (2, 73, 14)


def test_settings_are_frozen() -> None:
    """Nothing can change the settings after start-up."""
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SIGNER_PORT": "eighty"}, "invalid setting port (env SIGNER_PORT)"),
        ({"SIGNER_PORT": "70000"}, "invalid setting port"),
        ({"SIGNER_LOG_LEVEL": "loud"}, "invalid setting log_level"),
        ({"SIGNER_SDK_FLAGS": "1,2"}, "invalid setting sdk_flags"),
        ({"SIGNER_PROVIDERS": ""}, "invalid setting providers"),
        ({"SIGNER_PROVIDERS": "native,native"}, "invalid setting providers"),
        ({"SIGNER_TIKTOK_WWW_URL": "ftp://x"}, "invalid setting tiktok_www_url"),
        ({"SIGNER_GNARLY_FIELD_ORDER": "1,2,3"}, "invalid setting gnarly_field_order"),
        ({"SIGNER_MAX_BODY_BYTES": "10"}, "invalid setting max_body_bytes"),
    ],
)
def test_invalid_value_names_the_setting(tmp_path: Path, env: dict[str, str], named: str) -> None:
    """A bad value fails at start-up with the setting's name and source."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env, write(tmp_path, ""))
    assert named in caught.value.message


def test_unknown_toml_key_is_an_error(tmp_path: Path) -> None:
    """A typo in the file is caught, not ignored."""
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_settings({}, write(tmp_path, "prot = 1\n"))


def test_bad_toml_is_an_error(tmp_path: Path) -> None:
    """A file that does not parse names itself."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings({}, write(tmp_path, "port = [\n"))


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """An explicit file that does not exist is an error, not a silent default."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, tmp_path / "nope.toml")


def test_unknown_signer_env_names_are_reported() -> None:
    """Typos in SIGNER_* names are listed so the CLI can warn about them."""
    values, unknown = env_values({"SIGNER_PORTT": "1", "SIGNER_HOST": "0.0.0.0", "HOME": "/"})
    assert values == {"host": "0.0.0.0"}
    assert unknown == ["SIGNER_PORTT"]


def test_shipped_default_toml_is_valid() -> None:
    """config/default.toml loads and matches the embedded defaults it documents."""
    from tests.support import REPO  # noqa: PLC0415

    settings = load_settings({}, REPO / "config" / "default.toml")
    assert settings.providers == Settings().providers
    assert settings.allowed_hosts == Settings().allowed_hosts


def test_signable_hosts_include_configured_origins() -> None:
    """The TikTok origins (a fake on loopback in tests) are always signable."""
    settings = Settings(tiktok_www_url="http://127.0.0.1:9999")
    assert "127.0.0.1" in settings.signable_hosts
    assert "tiktok.com" in settings.signable_hosts


@pytest.mark.parametrize("key", ["", "a", "fifteen-chars!!"])
def test_an_empty_or_short_admin_key_stops_start_up(key: str) -> None:
    """SIGNER_ADMIN_KEY must be at least 16 characters; empty is an error, not a locked /admin."""
    with pytest.raises(ConfigError, match=r"invalid setting admin_key .*at least 16 characters"):
        load_settings({"SIGNER_ADMIN_KEY": key})
