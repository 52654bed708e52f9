# The config file: where it is looked for, what it may hold, how a profile overlays the
# top level, the permission rules, secret_key_command, and the Click wiring that gives
# the contract's precedence (command line, environment, profile, top level, default).
from __future__ import annotations

import os
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner

from coinsuper_cli.cli import config, config_display
from coinsuper_cli.cli.config import Setting, load
from coinsuper_cli.cli.config_display import describe
from coinsuper_cli.cli.options import config_callback
from coinsuper_cli.cli.secret_command import run_secret_command
from coinsuper_cli.errors import ConfigError

SECRET = "s3cr3t-VALUE-never-shown"


def write(tmp_path, text: str, mode: int = 0o600, name: str = "config.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    path.chmod(mode)
    return str(path)


def refused(path: str, environ=None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(path, environ or {})
    message = str(caught.value)
    assert "\n" not in message
    assert SECRET not in message
    return message


# --- where the file is ---

def test_default_path_follows_xdg_config_home():
    assert config.default_path({"XDG_CONFIG_HOME": "/x/conf", "HOME": "/h"}) == \
        "/x/conf/coinsuper/config.toml"


@pytest.mark.parametrize("xdg", [None, "", "relative/conf"])
def test_default_path_is_under_home_when_xdg_is_unset_empty_or_relative(xdg):
    environ = {"HOME": "/h"} if xdg is None else {"HOME": "/h", "XDG_CONFIG_HOME": xdg}
    assert config.default_path(environ) == "/h/.config/coinsuper/config.toml"


def test_a_missing_default_file_is_an_empty_config(tmp_path):
    found = load(None, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert found.path is None and found.settings() == {} and found.default_map() == {}


def test_the_default_file_is_read(tmp_path):
    (tmp_path / "coinsuper").mkdir()
    write(tmp_path / "coinsuper", 'env = "staging"\n')
    found = load(None, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert found.settings()["env"] == Setting(
        "staging", f"config file {tmp_path}/coinsuper/config.toml")


def test_coinsuper_config_names_the_file_and_an_empty_one_is_unset(tmp_path):
    path = write(tmp_path, 'env = "named"\n', name="other.toml")
    assert load(None, {"COINSUPER_CONFIG": path}).settings()["env"].value == "named"
    empty = load(None, {"COINSUPER_CONFIG": "", "XDG_CONFIG_HOME": str(tmp_path)})
    assert empty.path is None


def test_a_named_file_that_does_not_exist_is_refused(tmp_path):
    missing = str(tmp_path / "nope.toml")
    assert "does not exist" in refused(missing)
    with pytest.raises(ConfigError, match="does not exist"):
        load(None, {"COINSUPER_CONFIG": missing})


# --- profiles over the top level ---

CONFIG = """\
    url = "ws://top.example:9001/mqtt"
    env = "top_env"
    email = "top@example.com"
    access_key = "TOPKEY123456"
    secret_key = "top-secret"
    qos = 1

    [profiles.prod]
    url = "wss://prod.example/mqtt"
    secret_key_command = ["pass", "show", "coinsuper"]
    keepalive = 30

    [profiles.bare]
    email = "bare@example.com"
"""


def test_a_profile_overrides_the_top_level_key_by_key(tmp_path):
    path = write(tmp_path, CONFIG)
    found = load(path, {})
    top = f"config file {path}"
    prod = f"profile prod in {path}"
    assert found.settings() == {
        "url": Setting("ws://top.example:9001/mqtt", top), "env": Setting("top_env", top),
        "email": Setting("top@example.com", top), "access_key": Setting("TOPKEY123456", top),
        "secret_key": Setting("top-secret", top), "qos": Setting(1, top)}
    settings = found.settings("prod")
    assert settings["url"] == Setting("wss://prod.example/mqtt", prod)
    assert settings["keepalive"] == Setting(30, prod)
    assert settings["env"] == Setting("top_env", top)
    assert settings["qos"] == Setting(1, top)
    assert list(settings) == [k for k in config.KEYS if k in settings]


def test_a_profiles_secret_key_command_replaces_the_top_level_secret_key(tmp_path):
    found = load(write(tmp_path, CONFIG), {})
    settings = found.settings("prod")
    assert "secret_key" not in settings
    assert settings["secret_key_command"].value == ["pass", "show", "coinsuper"]
    assert found.settings("bare")["secret_key"].value == "top-secret"


def test_a_profiles_secret_key_replaces_the_top_level_command(tmp_path):
    path = write(tmp_path, """\
        secret_key_command = ["pass", "show", "x"]
        [profiles.p]
        secret_key = "profile-secret"
    """)
    settings = load(path, {}).settings("p")
    assert "secret_key_command" not in settings
    assert settings["secret_key"].value == "profile-secret"


def test_an_unknown_profile_lists_the_profiles_there_are(tmp_path):
    path = write(tmp_path, CONFIG)
    with pytest.raises(ConfigError) as caught:
        load(path, {}).settings("staging")
    assert str(caught.value) == f"{path}: no profile staging; profiles there: prod, bare"


def test_a_profile_without_a_config_file_is_refused(tmp_path):
    found = load(None, {"XDG_CONFIG_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="no profile prod: there is no config file"):
        found.settings("prod")
    with pytest.raises(ConfigError, match="empty profile name"):
        found.settings("")


def test_a_quoted_profile_name_is_shown_quoted(tmp_path):
    path = write(tmp_path, '[profiles."two words"]\nenv = "x"\n')
    assert load(path, {}).settings("two words")["env"].source == \
        f'profile "two words" in {path}'


# --- paths ---

def test_relative_paths_are_taken_from_the_config_files_directory(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    path = write(conf, """\
        cafile = "ca.pem"
        cert = "~/certs/me.pem"
        key = "/abs/me.key"
        [profiles.p]
        cafile = "../shared/ca.pem"
        secret_key_command = ["bin/get-secret", "--name", "x.pem"]
    """)
    found = load(path, {"HOME": "/home/me"})
    assert found.settings()["cafile"].value == str(conf / "ca.pem")
    assert found.settings()["cert"].value == "/home/me/certs/me.pem"
    assert found.settings()["key"].value == "/abs/me.key"
    profile = found.settings("p")
    assert profile["cafile"].value == str(tmp_path / "shared" / "ca.pem")
    # A program given as a path is found like cafile; its arguments are left alone.
    assert profile["secret_key_command"].value == [str(conf / "bin/get-secret"), "--name",
                                                   "x.pem"]


def test_a_bare_program_name_is_left_to_path(tmp_path):
    path = write(tmp_path, 'secret_key_command = ["pass", "show", "./x"]\n')
    assert load(path, {}).settings()["secret_key_command"].value == ["pass", "show", "./x"]


def test_a_config_file_named_by_a_relative_path_resolves_from_its_directory(tmp_path,
                                                                          monkeypatch):
    (tmp_path / "d").mkdir()
    write(tmp_path / "d", 'cafile = "ca.pem"\n')
    monkeypatch.chdir(tmp_path)
    assert load("d/config.toml", {}).settings()["cafile"].value == str(
        tmp_path / "d" / "ca.pem")


# --- permissions, as ssh does ---

@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
@pytest.mark.parametrize("where", ["top", "profile"])
def test_a_secret_key_readable_by_others_is_refused(tmp_path, mode, where):
    text = (f'secret_key = "{SECRET}"\n' if where == "top"
            else f'[profiles.p]\nsecret_key = "{SECRET}"\n')
    path = write(tmp_path, text, mode)
    message = refused(path)
    assert message == (f"{path} holds secret_key and is readable by group or others "
                       f"(mode {mode:04o}); refused, as ssh does: chmod 600 {path}")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_secret_key_readable_by_its_owner_only_is_read(tmp_path, mode):
    path = write(tmp_path, f'secret_key = "{SECRET}"\n', mode)
    assert load(path, {}).settings()["secret_key"].value == SECRET


def test_a_file_without_secret_key_may_be_readable_by_all(tmp_path):
    path = write(tmp_path, 'email = "a@b.example"\n'
                           'secret_key_command = ["pass", "show", "x"]\n', 0o644)
    assert load(path, {}).settings()["email"].value == "a@b.example"


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_secret_key_command_others_can_write_is_refused(tmp_path, mode):
    path = write(tmp_path, 'secret_key_command = ["pass", "show", "x"]\n', mode)
    assert "writable by group or others" in refused(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_a_secret_key_command_owned_by_another_user_is_refused(tmp_path):
    path = write(tmp_path, 'secret_key_command = ["pass", "show", "x"]\n')
    os.chown(path, 12345, -1)
    assert "belongs to another user (uid 12345)" in refused(path)


# --- bad files and bad values: one line, naming the file and the key ---

@pytest.mark.parametrize("text, expected", [
    ("colour = 1\n", "unknown key colour; valid keys: url, env, email, access_key, "
                     "secret_key, secret_key_command, qos, keepalive, cafile, cert, key, "
                     "proxy"),
    ("[profiles.p]\nqos = 3\n", "profiles.p.qos: expected an integer from 0 to 2, got 3"),
    ("qos = -1\n", "qos: expected an integer from 0 to 2, got -1"),
    ("qos = true\n", "qos: expected an integer from 0 to 2, got a boolean"),
    ('qos = "1"\n', "qos: expected an integer from 0 to 2, got a string"),
    ("keepalive = 65536\n", "keepalive: expected an integer from 0 to 65535, got 65536"),
    ("keepalive = 1.5\n", "keepalive: expected an integer from 0 to 65535, got a float"),
    ("url = 5\n", "url: expected a string, got an integer"),
    ("cafile = [\"a\"]\n", "cafile: expected a string, got an array"),
    ("proxy = 1979-05-27\n", "proxy: expected a string, got a date or time"),
    ('proxy = "ftp://x"\n', "proxy: unsupported proxy URL 'ftp://x'"),
    ('email = ""\n', "email: empty; remove the line to use the default"),
    ('email = "no-at-sign"\n', "email: malformed email 'no-at-sign'"),
    ('env = "a/#"\n', "env: malformed topic prefix 'a/#'"),
    ('url = "http://x"\n', "url: unsupported broker URL 'http://x'"),
    ('access_key = "has space"\n', "access_key: access key holds a space"),
    ('email = "a\\u001b[2J@b"\n', "email: holds a control character: 'a\\x1b[2J@b'"),
    ("secret_key_command = []\n", "secret_key_command: expected a list of strings, like "
                                  '["pass", "show", "coinsuper"], got an empty array'),
    ('secret_key_command = "pass show x"\n', "secret_key_command: expected a list of "
                                             "strings"),
    ('secret_key_command = ["pass", 1]\n', "got an array holding an integer"),
    ('secret_key_command = ["", "x"]\n', "secret_key_command: the program's name is empty"),
    ('secret_key_command = ["pass", "a\\u0000b"]\n', "holds a NUL character"),
    ("profiles = 1\n", "profiles: expected tables like [profiles.NAME], got an integer"),
    ("[profiles]\np = 1\n", "profiles.p: expected a table [profiles.p], got an integer"),
    ("[profiles.p.profiles.q]\nenv = 'x'\n", "unknown key profiles.p.profiles (profiles "
                                             "do not nest)"),
    ('[profiles."a.b"]\ncolour = 1\n', 'unknown key profiles."a.b".colour'),
    ('secret_key = "x"\nsecret_key_command = ["pass"]\n',
     "the top level sets both secret_key and secret_key_command; keep one"),
    ('[profiles.p]\nsecret_key = "x"\nsecret_key_command = ["pass"]\n',
     "[profiles.p] sets both secret_key and secret_key_command; keep one"),
    ("qos = \n", "Invalid value (at line 1, column 7)"),
    ('env = "a"\nenv = "b"\n', "(at line 2, column"),
])
def test_each_bad_value_is_one_line_naming_the_file_and_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    message = refused(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


@pytest.mark.parametrize("text", [
    f'secret_key = 5\n[profiles.p]\nsecret_key = "{SECRET}"\n',
    f'secret_key = "{SECRET}\\u0007"\n',
    f'secret_key = "{SECRET}"\n[profiles.p]\nqos = 9\n',
    f'secret_key = "{SECRET}"\nbroken = [\n',
])
def test_no_message_holds_the_secret(tmp_path, text):
    refused(write(tmp_path, text))


def test_an_empty_path_is_refused():
    assert refused("") == "empty config file path: give --config PATH"


def test_a_directory_is_refused(tmp_path):
    assert refused(str(tmp_path)) == f"config file {tmp_path} is a directory"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert refused(str(fifo)) == f"config file {fifo} is not a regular file"


def test_a_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'env = "a"\nemail = "\xff"\n')
    path.chmod(0o600)
    assert refused(str(path)) == f"{path}: line 2: not UTF-8 text"


def test_a_huge_file_is_refused(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"# " + b"x" * config.MAX_BYTES + b"\n")
    path.chmod(0o600)
    assert f"larger than {config.MAX_BYTES // 1024} KiB" in refused(str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file_is_refused(tmp_path):
    path = write(tmp_path, 'env = "x"\n', 0o000)
    assert "cannot read config file" in refused(path)


def test_a_path_with_a_control_character_is_shown_escaped(tmp_path):
    message = refused(str(tmp_path / "a\x1b[2Jb.toml"))
    assert "\x1b" not in message and "a\\x1b[2Jb.toml" in message


# --- secret_key_command ---

def test_the_secret_is_the_output_without_its_newline():
    assert run_secret_command([sys.executable, "-c", f"print({SECRET!r})"]) == SECRET
    assert run_secret_command([sys.executable, "-c", "import sys; sys.stdout.write('a b')"]
                              ) == "a b"
    assert run_secret_command([sys.executable, "-c", "print('x', end='\\r\\n')"]) == "x"


def test_a_script_runs_without_a_shell_and_reads_no_stdin(tmp_path):
    script = tmp_path / "get-secret"
    script.write_text('#!/bin/sh\nread line && exit 9\necho "$1-$2"\n')
    script.chmod(0o700)
    # Arguments arrive as written: no word splitting, no globbing, no $expansion.
    assert run_secret_command([str(script), "a b", "$HOME*"]) == "a b-$HOME*"


def test_a_secret_key_command_from_the_file_runs_as_resolved(tmp_path):
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "get-secret"
    script.write_text(f"#!/bin/sh\necho {SECRET}\n")
    script.chmod(0o700)
    path = write(tmp_path, 'secret_key_command = ["bin/get-secret"]\n')
    secret = load(path, {}).default_map()["secret_key"]
    assert callable(secret) and secret() == SECRET


def failure(argv, **kwargs) -> str:
    if argv[:2] == [sys.executable, "-c"]:  # the code goes in a file: messages show argv
        script = argv[2]
        argv = [sys.executable, "-c", "import os; exec(os.environ['CODE'])"]
        os.environ["CODE"] = script
    try:
        with pytest.raises(ConfigError) as caught:
            run_secret_command(argv, **kwargs)
    finally:
        os.environ.pop("CODE", None)
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    return message


def test_a_program_that_is_not_found(tmp_path):
    assert failure([str(tmp_path / "nope"), "x"]) == (
        f"secret_key_command {tmp_path}/nope x: program '{tmp_path}/nope' not found")
    assert "not found" in failure(["coinsuper-no-such-program-anywhere"])


def test_a_program_that_is_not_executable(tmp_path):
    script = tmp_path / "get-secret"
    script.write_text("#!/bin/sh\necho x\n")
    script.chmod(0o600)
    assert "is not executable" in failure([str(script)])


def test_a_program_that_fails_gives_its_status_not_its_output():
    code = f"import sys; print({SECRET!r}); sys.exit(3)"
    assert failure([sys.executable, "-c", code]).endswith(": exited with status 3")


def test_a_program_killed_by_a_signal():
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    assert failure([sys.executable, "-c", code]).endswith(": killed by SIGTERM")


def test_a_program_that_takes_too_long():
    code = f"import time; print({SECRET!r}, flush=True); time.sleep(30)"
    assert failure([sys.executable, "-c", code], timeout=0.5).endswith(
        ": gave no answer within 0.5 s")


@pytest.mark.parametrize("output, reason", [
    ("", "printed nothing; the secret key is its output"),
    ("\\n", "printed nothing"),
    (f"{SECRET}\\nsecond line\\n", "printed more than one line"),
])
def test_a_program_that_prints_no_usable_secret(output, reason):
    code = f"import sys; sys.stdout.write('{output}')"
    assert reason in failure([sys.executable, "-c", code])


def test_output_that_is_not_utf8():
    code = "import sys; sys.stdout.buffer.write(b'\\xff\\xfe')"
    assert failure([sys.executable, "-c", code]).endswith("not UTF-8 text")


def test_the_programs_stderr_reaches_the_user(capfd):
    run_secret_command([sys.executable, "-c",
                        "import sys; print('unlock?', file=sys.stderr); print('k')"])
    assert "unlock?" in capfd.readouterr().err


# --- what `coinsuper config` prints ---

def test_describe_masks_secrets_and_aligns_keys():
    lines = describe([
        ("url", "wss://user:pw@h.example/mqtt", "config file /c.toml"),
        ("email", None, None),
        ("access_key", "AKIA1234567890XY", "environment COINSUPER_ACCESS_KEY"),
        ("secret_key", SECRET, "command line"),
        ("secret_key_command", ["pass", "show", "coin super"], "profile p in /c.toml"),
        ("qos", 0, "default"),
    ])
    assert lines == [
        "url                = wss://***@h.example/mqtt  (config file /c.toml)",
        "email              = (not set)",
        "access_key         = AKIA…90XY  (environment COINSUPER_ACCESS_KEY)",
        "secret_key         = ***  (command line)",
        "secret_key_command = pass show 'coin super'  (profile p in /c.toml)",
        "qos                = 0  (default)",
    ]


def test_describe_never_calls_a_lazy_secret_and_escapes_control_characters():
    def boom():
        raise AssertionError("called")
    assert describe([("secret_key", boom, "x"), ("env", "a\x1b[2J", "default")]) == [
        "secret_key = ***  (x)", "env        = a\\x1b[2J  (default)"]


# --- cli/options.py's Click wiring (its config_callback), on a throwaway command ---


def _options(command):
    for option in reversed((
        click.option("--config", "config_path", envvar="COINSUPER_CONFIG", is_eager=True,
                     expose_value=False, callback=config_callback),
        click.option("--profile", envvar="COINSUPER_PROFILE", is_eager=True,
                     expose_value=False, callback=config_callback),
        click.option("--url", envvar="COINSUPER_URL", default="wss://default/mqtt"),
        click.option("--env", envvar="COINSUPER_ENV", default="exchange_ha_prod_hk"),
        click.option("--qos", type=click.IntRange(0, 2), default=0),
        click.option("--email", envvar="COINSUPER_EMAIL"),
        click.option("--access-key", envvar="COINSUPER_ACCESS_KEY"),
        click.option("--secret-key", envvar="COINSUPER_SECRET_KEY"),
    )):
        command = option(command)
    return command


@click.group()
def toy():
    pass


@toy.command()
@_options
def trades(**values):
    click.echo(repr(sorted(values.items())))


@toy.command()
@_options
def assets(**values):
    click.echo(repr(sorted(values.items())))


@toy.command("config")
@_options
@click.pass_context
def show_config(ctx, **values):
    click.echo("\n".join(describe(config_display.rows(ctx, ctx.meta.get("coinsuper.settings", {})))))


@pytest.fixture
def toy_run(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("COINSUPER_") or name == "XDG_CONFIG_HOME":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    def run(*args, env=None):
        result = CliRunner().invoke(toy, list(args), env=env, catch_exceptions=True)
        if result.exception and not isinstance(result.exception, SystemExit):
            return result.exception
        assert result.exit_code == 0, result.output
        return dict(eval(result.output)) if args[0] != "config" else result.output
    return run


def test_precedence_command_line_environment_profile_top_default(tmp_path, toy_run):
    path = write(tmp_path, """\
        url = "ws://top/mqtt"
        env = "top_env"
        email = "top@example.com"
        [profiles.p]
        env = "profile_env"
        qos = 2
    """)
    assert toy_run("trades", "--config", path) == {
        "url": "ws://top/mqtt", "env": "top_env", "qos": 0, "email": "top@example.com",
        "access_key": None, "secret_key": None}
    values = toy_run("trades", "--profile", "p", "--config", path,
                     env={"COINSUPER_EMAIL": "env@example.com"})
    assert values["env"] == "profile_env" and values["qos"] == 2
    assert values["email"] == "env@example.com" and values["url"] == "ws://top/mqtt"
    values = toy_run("trades", "--email", "cli@example.com", "--qos", "1",
                     env={"COINSUPER_EMAIL": "env@example.com", "COINSUPER_CONFIG": path,
                          "COINSUPER_PROFILE": "p"})
    assert values["email"] == "cli@example.com" and values["qos"] == 1
    assert values["env"] == "profile_env"


def test_the_secret_command_runs_only_for_private_commands_without_a_secret(tmp_path,
                                                                           toy_run):
    marker = tmp_path / "ran"
    script = tmp_path / "get-secret"
    script.write_text(f"#!/bin/sh\necho run >> {marker}\necho {SECRET}\n")
    script.chmod(0o700)
    path = write(tmp_path, f'secret_key_command = ["{script}"]\n')
    assert toy_run("trades", "--config", path)["secret_key"] is None
    assert not marker.exists()
    assert toy_run("assets", "--config", path,
                   env={"COINSUPER_SECRET_KEY": "from-env"})["secret_key"] == "from-env"
    assert not marker.exists()
    assert toy_run("assets", "--config", path)["secret_key"] == SECRET
    assert marker.read_text() == "run\n"


def test_a_config_problem_reaches_the_cli_as_a_usage_error(tmp_path, toy_run):
    error = toy_run("trades", "--config", str(tmp_path / "missing.toml"))
    assert isinstance(error, ConfigError)
    error = toy_run("trades", "--profile", "nope")
    assert isinstance(error, ConfigError)
    assert str(error) == ("no profile nope: there is no config file "
                          f"{tmp_path}/xdg/coinsuper/config.toml")


def test_config_shows_each_value_and_where_it_came_from(tmp_path, toy_run):
    path = write(tmp_path, """\
        url = "ws://top/mqtt"
        access_key = "AKIA1234567890XY"
        [profiles.p]
        env = "profile_env"
        secret_key_command = ["pass", "show", "coinsuper"]
        cafile = "ca.pem"
    """)
    out = toy_run("config", "--config", path, "--profile", "p", "--qos", "2",
                  env={"COINSUPER_EMAIL": "env@example.com"})
    assert out.splitlines() == [
        f"url                = ws://top/mqtt  (config file {path})",
        f"env                = profile_env  (profile p in {path})",
        "email              = env@example.com  (environment COINSUPER_EMAIL)",
        f"access_key         = AKIA…90XY  (config file {path})",
        f"secret_key_command = pass show coinsuper  (profile p in {path})",
        "qos                = 2  (command line)",
        f"cafile             = {tmp_path}/ca.pem  (profile p in {path})",
    ]
    out = toy_run("config", "--config", path, env={"COINSUPER_SECRET_KEY": SECRET})
    assert "secret_key = ***  (environment COINSUPER_SECRET_KEY)" in out
    assert SECRET not in out



def test_config_shows_a_secret_key_from_the_file_masked(tmp_path, toy_run):
    path = write(tmp_path, f'secret_key = "{SECRET}"\n')
    out = toy_run("config", "--config", path)
    assert f"secret_key = ***  (config file {path})" in out.splitlines()
    assert SECRET not in out
    assert "url        = wss://default/mqtt  (default)" in out.splitlines()
    assert "email      = (not set)" in out.splitlines()


def test_completion_reads_no_config_file(tmp_path, toy_run, monkeypatch):
    from click.shell_completion import BashComplete

    path = write(tmp_path, "broken = [\n")
    monkeypatch.setenv("COINSUPER_CONFIG", path)
    items = BashComplete(toy, {}, "coinsuper", "_X").get_completions(["trades"], "--e")
    assert [item.value for item in items] == ["--env", "--email"]


def test_an_empty_proxy_in_a_profile_is_none_over_the_top_level_proxy(tmp_path):
    path = write(tmp_path, """\
        proxy = "http://proxy.example:3128"
        [profiles.home]
        proxy = ""
        """)
    found = load(path, {})
    assert found.settings()["proxy"].value == "http://proxy.example:3128"
    assert found.settings("home")["proxy"].value == ""
    assert config_display.describe([("proxy", "", "profile home")]) == \
        ['proxy = "" (none)  (profile home)']
