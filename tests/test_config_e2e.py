"""The config file and completion through the installed command: profiles and their
precedence, secret_key_command, the refusal of a readable file holding a secret, what
`coinsuper config` shows, and bash completion (PRODUCT.md, "Connecting from anywhere")."""
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest
from conftest import clean_env, coinsuper_command

PROFILE_SECRET = "PROFILESECRET-7f3a"
COMMAND_SECRET = "FROM-A-PROGRAM-91c2"


@pytest.fixture
def home(tmp_path):
    """An XDG_CONFIG_HOME with a config file of a top level and two profiles."""
    folder = tmp_path / "coinsuper"
    folder.mkdir()
    script = tmp_path / "secret.py"
    script.write_text(f"print({COMMAND_SECRET!r})\n")
    (folder / "config.toml").write_text(textwrap.dedent(f"""\
        url = "ws://127.0.0.1:9001/mqtt"
        env = "top_env"
        qos = 1

        [profiles.p]
        env = "profile_env"
        email = "p@example.com"
        access_key = "AKPROFILE1234567"
        secret_key = "{PROFILE_SECRET}"

        [profiles.cmd]
        email = "c@example.com"
        access_key = "AKCOMMAND1234567"
        secret_key_command = ["{sys.executable}", "{script}"]
        """))
    (folder / "config.toml").chmod(0o600)
    return tmp_path


def coinsuper(home, *args, **env):
    return subprocess.run(coinsuper_command() + list(args), capture_output=True, text=True,
                          timeout=60, env=clean_env(XDG_CONFIG_HOME=str(home), **env))


def settings(done) -> dict[str, str]:
    assert done.returncode == 0, done.stderr
    return {line.split(" = ")[0].strip(): line.split(" = ", 1)[1]
            for line in done.stdout.splitlines()}


def test_a_profile_is_what_topics_shows_and_a_flag_still_wins(home):
    done = coinsuper(home, "topics", "orders", "--profile", "p")
    assert done.returncode == 0, done.stderr
    assert "profile_env/ws/personal/v1/order/change/p@example.com" in done.stdout
    assert PROFILE_SECRET not in done.stdout + done.stderr
    done = coinsuper(home, "topics", "orders", "--profile", "p", "--env", "flag_env")
    assert "flag_env/ws/personal/v1/order/change/p@example.com" in done.stdout


def test_precedence_flag_then_environment_then_profile_then_top_level(home):
    shown = settings(coinsuper(home, "config", "--profile", "p"))
    assert shown["env"].startswith("profile_env  (profile p in ")
    assert shown["qos"].startswith("1  (config file ")
    assert shown["secret_key"].startswith("***")
    assert shown["keepalive"] == "60  (default)"
    shown = settings(coinsuper(home, "config", "--profile", "p", COINSUPER_ENV="env_env"))
    assert shown["env"] == "env_env  (environment COINSUPER_ENV)"
    shown = settings(coinsuper(home, "config", "--profile", "p", "--env", "flag_env",
                               COINSUPER_ENV="env_env"))
    assert shown["env"] == "flag_env  (command line)"
    shown = settings(coinsuper(home, "config", COINSUPER_PROFILE="p"))
    assert shown["email"].startswith("p@example.com  (profile p")
    shown = settings(coinsuper(home, "config"))
    assert shown["env"].startswith("top_env  (config file ")


def test_config_masks_secrets_and_never_runs_the_secret_command(home):
    done = coinsuper(home, "config", "--profile", "p")
    assert PROFILE_SECRET not in done.stdout and "AKPROFILE1234567" not in done.stdout
    done = coinsuper(home, "config", "--profile", "cmd")
    assert COMMAND_SECRET not in done.stdout and "secret.py" in done.stdout


def test_a_secret_key_command_signs_in_a_private_command(home):
    done = coinsuper(home, "topics", "fills", "--profile", "cmd", "-v")
    assert done.returncode == 0, done.stderr
    assert "c@example.com" in done.stdout and COMMAND_SECRET not in done.stdout


def test_a_group_readable_file_with_a_secret_is_refused_and_0600_accepted(home):
    path = home / "coinsuper" / "config.toml"
    path.chmod(0o644)
    done = coinsuper(home, "topics", "trades", "BTC_USD")
    assert done.returncode == 2 and "chmod 600" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and PROFILE_SECRET not in done.stderr
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert coinsuper(home, "topics", "trades", "BTC_USD").returncode == 0


@pytest.mark.parametrize("args, says", [
    (["--profile", "nope"], "no profile nope; profiles there: p, cmd"),
    (["--config", "/nonexistent/c.toml"], "/nonexistent/c.toml"),
    (["--config", ""], "--config"),
])
def test_bad_profiles_and_paths_are_one_line_usage_errors(home, args, says):
    done = coinsuper(home, "topics", "trades", "BTC_USD", *args)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_broken_config_file_names_the_file_and_line(home):
    (home / "coinsuper" / "config.toml").write_text("qos = 1\nurl = \n")
    done = coinsuper(home, "topics", "trades", "BTC_USD")
    assert done.returncode == 2 and "config.toml" in done.stderr and "line 2" in done.stderr


def complete_installed(*words: str) -> list[str]:
    """What the installed command answers bash for `coinsuper WORDS...<TAB>` (the last
    word is the one being completed; "" for a new word)."""
    env = clean_env(_COINSUPER_COMPLETE="bash_complete",
                    COMP_WORDS=" ".join(("coinsuper",) + words), COMP_CWORD=str(len(words)))
    done = subprocess.run(coinsuper_command(), env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return [line.partition(",")[2] for line in done.stdout.splitlines()
            if line.startswith("plain,")]


def test_the_installed_command_completes_symbols_intervals_and_steps():
    assert complete_installed("tr") == ["trades"]
    assert complete_installed("trades", "BT") == ["BTC_USD"]
    assert complete_installed("book", "eth/") == ["ETH_USD", "ETH_BTC"]
    assert complete_installed("book", "ETH_BTC", "--step", "") == [
        "0.0001", "0.000001", "0.00000001"]
    assert complete_installed("kline", "BTC_USD", "--interval", "1") == [
        "1m", "15m", "1h", "12h", "1d", "1w"]
    assert complete_installed("replay", "x.jsonl", "--channel", "depth,tr") == [
        "depth,trade"]
    assert complete_installed("completion", "") == ["bash", "zsh", "fish"]


def test_the_installed_bash_script_completes_in_a_real_bash():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    coinsuper = coinsuper_command()[0]
    script = subprocess.run([coinsuper, "completion", "bash"], capture_output=True,
                            text=True, check=True, timeout=60).stdout
    driver = ('source <(cat); COMP_WORDS=(coinsuper trades BT); COMP_CWORD=2; '
              '_coinsuper_completion coinsuper; printf "%s\\n" "${COMPREPLY[@]}"')
    env = clean_env(PATH=os.path.dirname(coinsuper) + os.pathsep + os.environ["PATH"])
    done = subprocess.run([bash, "--norc", "--noprofile", "-c", driver], input=script,
                          capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "BTC_USD\n", "")


def test_relay_takes_the_secret_from_the_profile_only_with_private(home, tmp_path):
    """relay's --private decides whether the profile's secret_key_command runs."""
    ran = tmp_path / "ran"
    script = tmp_path / "secret.py"
    script.write_text(f"open({str(ran)!r}, 'a').write('ran\\n'); print({COMMAND_SECRET!r})\n")
    relay = ["topics", "relay", "BTC_USD", "--to", "mqtt://127.0.0.1:1883", "--profile", "cmd"]
    done = coinsuper(home, *relay)
    assert done.returncode == 0 and not ran.exists(), done.stderr
    done = coinsuper(home, *relay, "--private")
    assert done.returncode == 0, done.stderr
    assert "c@example.com" in done.stdout and ran.read_text() == "ran\n"
