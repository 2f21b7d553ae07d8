"""Device URLs, the devices.toml list and the ssh command line (no server needed)."""

from __future__ import annotations

import shlex

import pytest

from edgenn.core import BadInputError
from edgenn.devices import Device, SshTransport, config_path, load_devices, parse_url, save_devices


def test_url_parts():
    address = parse_url("ssh://pi@raspberrypi.local:2222")
    assert (address.user, address.host, address.port) == ("pi", "raspberrypi.local", 2222)
    bare = parse_url("ssh://board")
    assert (bare.user, bare.port) == (None, None)  # left to the user's ssh config
    assert parse_url("ssh://root@[::1]:22").host == "::1"


@pytest.mark.parametrize("url, message", [
    ("ssh://pi:secret@host", "never stores"),
    ("adb://R58M12345", "adb:// is planned"),
    ("http://host", "scheme must be"),
    ("ssh://-oProxyCommand=touch%20x", "no usable host"),
    ("ssh://host:99999", "port must be"),
    ("ssh://host/path", "only ssh://user@host"),
    ("ssh://-x@host", "bad user name"),
])
def test_bad_urls_are_refused_by_name(url, message):
    with pytest.raises(BadInputError, match=message):
        parse_url(url)


def test_bad_entries():
    with pytest.raises(BadInputError, match="device name"):
        Device(name="-bad", url="ssh://h")
    with pytest.raises(BadInputError, match="absolute path"):
        Device(name="pi", url="ssh://h", scratch="tmp")
    with pytest.raises(BadInputError, match="connect_timeout"):
        Device(name="pi", url="ssh://h", connect_timeout=0)


def test_list_round_trips_through_the_xdg_file(config_home):
    assert config_path() == config_home / "edgenn" / "devices.toml"
    assert load_devices() == {}
    devices = {"pi": Device(name="pi", url="ssh://pi@10.0.0.7:2222"),
               "odd": Device(name="odd", url="ssh://me@host", python='/opt/my "env"/python -I',
                             scratch="/data/local/tmp/with space", identity="~/.ssh/id_x",
                             connect_timeout=3)}
    save_devices(devices)
    assert load_devices() == devices
    text = config_path().read_text()
    assert "password" not in text.replace("no passwords", "")
    assert 'python = "python3"' not in text  # defaults are not written out


def test_bad_devices_file_is_one_clear_error(config_home):
    config_path().parent.mkdir(parents=True)
    config_path().write_text("[devices.pi]\nurl = 'ssh://pi@h'\npassword = 'x'\n")
    with pytest.raises(BadInputError, match="unknown key"):
        load_devices()
    config_path().write_text("[devices.pi\n")
    with pytest.raises(BadInputError, match="not a readable devices file"):
        load_devices()


def test_ssh_command_line_is_an_argv_in_batch_mode():
    device = Device(name="pi", url="ssh://pi@host:2200", identity="/k", ssh_config="/c")
    argv = SshTransport(device).argv("echo 'a b'")
    assert argv[0] == "ssh" and "BatchMode=yes" in argv
    assert argv[argv.index("-p") + 1] == "2200" and argv[argv.index("-l") + 1] == "pi"
    assert argv[argv.index("-i") + 1] == "/k" and argv[argv.index("-F") + 1] == "/c"
    # no option can hide in the host; the script runs under sh whatever the login shell
    assert argv[-3:] == ["--", "host", "sh -c 'echo '\"'\"'a b'\"'\"''"]
    assert shlex.split(argv[-1]) == ["sh", "-c", "echo 'a b'"]


def test_devices_in_a_recipe():
    from edgenn.run.recipe import build_config, recipe_text

    config = build_config({"targets": {"run": ["cpu"], "devices": ["pi", "jetson"]}})
    assert config.devices == ("pi", "jetson") and config.settings()["devices"] == ["pi",
                                                                                   "jetson"]
    with pytest.raises(BadInputError, match="targets.devices"):
        build_config({"targets": {"devices": "pi"}})
    assert "devices = []" in recipe_text(None)
