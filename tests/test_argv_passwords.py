"""Passwords in URLs on the command line (--url, --proxy, relay's --to) show in ps: one
warning line each, naming where the URL can come from instead; none when it came from
there, or holds no password. Run through `topics`, which connects nowhere."""
import pytest

from coinsuper_cli.cli.main import main


@pytest.fixture(autouse=True)
def no_env(monkeypatch, tmp_path):
    for name in ("COINSUPER_URL", "COINSUPER_PROXY", "COINSUPER_RELAY_TO",
                 "COINSUPER_SECRET_KEY", "COINSUPER_CONFIG", "COINSUPER_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, warning", [
    (["--url", "ws://al:s3cret@h/mqtt"],
     "--url holds a password, and the command line shows in ps; prefer COINSUPER_URL or "
     "the config file's url"),
    (["--proxy", "http://al:s3cret@p:3128"],
     "--proxy holds a password, and the command line shows in ps; prefer COINSUPER_PROXY "
     "or the config file's proxy"),
    (["--proxy", "al:s3cret@p:3128"],  # curl's form without a scheme
     "--proxy holds a password"),
    (["--proxy=socks5h://:s3cret@p"], "--proxy holds a password"),
])
def test_a_password_on_the_command_line_warns_once(capsys, args, warning):
    code, _, err = run(capsys, "topics", "trades", "BTC_USD", *args)
    assert code == 0
    assert err.count("\n") == 1 and err.startswith(f"coinsuper: {warning}")
    assert "s3cret" not in err


def test_the_relay_target_warns_and_can_come_from_the_environment(capsys, monkeypatch):
    code, _, err = run(capsys, "topics", "relay", "BTC_USD", "--to", "mqtt://u:s3cret@b")
    assert code == 0 and err == ("coinsuper: --to holds a password, and the command line "
                                 "shows in ps; prefer COINSUPER_RELAY_TO\n")
    monkeypatch.setenv("COINSUPER_RELAY_TO", "mqtt://u:s3cret@b")
    code, out, err = run(capsys, "topics", "relay", "BTC_USD")
    assert code == 0 and err == "" and "connection" in out


@pytest.mark.parametrize("args", [
    ["--url", "ws://al@h/mqtt"],  # a user name alone is no secret
    ["--url", "wss://h/mqtt"],
    ["--proxy", "http://p:3128"],
    ["--proxy", ""],
])
def test_no_password_no_warning(capsys, args):
    code, _, err = run(capsys, "topics", "trades", "BTC_USD", *args)
    assert code == 0 and err == ""


def test_from_the_environment_no_warning(capsys, monkeypatch):
    monkeypatch.setenv("COINSUPER_URL", "ws://al:s3cret@h/mqtt")
    monkeypatch.setenv("COINSUPER_PROXY", "http://al:s3cret@p:3128")
    code, _, err = run(capsys, "topics", "trades", "BTC_USD")
    assert code == 0 and err == ""


def test_from_the_config_file_no_warning(capsys, tmp_path):
    (tmp_path / "coinsuper").mkdir()
    (tmp_path / "coinsuper" / "config.toml").write_text(
        'url = "ws://al:s3cret@h/mqtt"\nproxy = "http://al:s3cret@p:3128"\n')
    code, _, err = run(capsys, "topics", "trades", "BTC_USD")
    assert code == 0 and err == ""
