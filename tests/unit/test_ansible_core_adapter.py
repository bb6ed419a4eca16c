"""plugin_utils/ansible_core.py against the ansible-core installed: a real action plugin of a task on localhost, with
a real Task, PlayContext, local connection and plugin loaders, as the task executor makes them (scripts/quality.sh
runs this on the oldest and the newest ansible-core the collection supports)."""

from __future__ import annotations

import os
import stat
import sys

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins import loader as plugin_loader
from ansible.plugins.action import ActionBase
from ansible.release import __version__ as ansible_core_version
from ansible.template import Templar
from ansible.utils.collection_loader import AnsibleCollectionConfig

from ansible_collections.certkeeper.pki.plugins.plugin_utils import ansible_core

BEFORE_2_19 = tuple(int(part) for part in ansible_core_version.split(".")[:2]) < (2, 19)
MODULE = "ansible.legacy.ping"


class Action(ActionBase):
    def run(self, tmp=None, task_vars=None):
        return {}


@pytest.fixture(scope="module", autouse=True)
def collection_loader():
    """Ansible's collection loader, installed as ansible-playbook installs it (building a module resolves its
    module_utils through it), and removed after: the other tests import this checkout as plain packages."""
    if AnsibleCollectionConfig.collection_finder is not None:
        yield
        return
    plugin_loader.init_plugin_loader()
    yield
    AnsibleCollectionConfig.collection_finder._remove()


@pytest.fixture
def task():
    task = Task()
    task.args = {"dest": "/usr/local/sbin/certkeeper"}
    return task


@pytest.fixture
def play_context():
    return PlayContext()


@pytest.fixture
def connection(play_context, tmp_path):
    connection = plugin_loader.connection_loader.get("local", play_context, os.devnull)
    connection.set_options(var_options={})
    # as the task executor sets the shell's options from the host's variables: temporary files under tmp_path
    connection._shell.set_options(var_options={"ansible_remote_tmp": str(tmp_path / "remote_tmp")})
    return connection


@pytest.fixture
def action(task, connection, play_context):
    loader = DataLoader()
    return Action(task, connection, play_context, loader, Templar(loader=loader), plugin_loader)


def host_vars(**variables) -> dict:
    return dict({"inventory_hostname": "localhost", "ansible_facts": {}}, **variables)


def test_no_log_values_are_those_of_no_log_options_nested_ones_included():
    spec = {"name": {}, "password": {"no_log": True}, "store": {"type": "dict", "options": {"token": {"no_log": True}}}}
    validated = ArgumentSpecValidator(spec).validate({"name": "db1", "password": "pw", "store": {"token": "tk"}})
    assert ansible_core.no_log_values(validated) == {"pw", "tk"}


def test_pipelining_follows_the_connection_option_and_su_turns_it_off(action, connection):
    connection.set_option("pipelining", False)
    assert ansible_core.pipelining_enabled(action) is False
    connection.set_option("pipelining", True)
    assert ansible_core.pipelining_enabled(action) is True
    connection.set_become_plugin(plugin_loader.become_loader.get("su"))
    assert ansible_core.pipelining_enabled(action) is False


def test_the_shebang_is_the_interpreter_the_inventory_names_and_nothing_is_discovered(action):
    assert ansible_core.module_shebang(action, MODULE, {}, host_vars(ansible_python_interpreter=sys.executable)) == (
        "#!" + sys.executable
    )
    result = {"changed": False}
    ansible_core.add_interpreter_discovery(action, result)
    assert result == {"changed": False}


def test_a_discovered_interpreter_is_the_shebang_and_comes_back_as_the_only_fact(action):
    variables = host_vars(ansible_python_interpreter="auto_silent")
    shebang = ansible_core.module_shebang(action, MODULE, {}, variables)
    discovered = variables["ansible_facts"]["discovered_interpreter_python"]
    assert shebang == "#!" + discovered and os.access(discovered, os.X_OK)
    result = {"changed": False}
    ansible_core.add_interpreter_discovery(action, result)
    assert result == {"changed": False, "ansible_facts": {"discovered_interpreter_python": discovered}}


def test_discovery_warnings_reach_the_result_where_ansible_core_leaves_them_to_the_action(action):
    variables = host_vars(ansible_python_interpreter="auto", ansible_interpreter_python_fallback=["/nonexistent/py"])
    ansible_core.module_shebang(action, MODULE, {}, variables)
    result = {"warnings": ["the module's own"]}
    ansible_core.add_interpreter_discovery(action, result)
    if BEFORE_2_19:
        assert result["warnings"][0] == "the module's own"
        assert result["warnings"][1].startswith("No python interpreters found for host localhost")
    else:  # displayed while discovering
        assert result["warnings"] == ["the module's own"]


def test_the_pipelined_command_runs_a_program_from_stdin_isolated_with_the_task_environment(action, task):
    assert ansible_core.pipelined_command(action, "#!/usr/bin/python3", "-I") == "/usr/bin/python3 -I"
    task.environment = [{"CERTKEEPER_PROBE": "from the task"}]
    command = ansible_core.pipelined_command(action, "#!" + sys.executable, "-I")
    assert command == "CERTKEEPER_PROBE='from the task' %s -I" % sys.executable
    program = b"import os, sys\nprint(sys.flags.isolated, os.environ['CERTKEEPER_PROBE'])\nsys.exit(3)\n"
    ran = ansible_core.run_on_host(action, command, program)
    assert (ran["rc"], ran["stdout"]) == (3, "1 from the task\n")


def test_a_module_result_is_cleaned_as_execute_module_cleans_it():
    result = {
        "changed": True,
        "msg": "ok",
        "_ansible_no_log": False,
        "_ansible_parsed": True,
        "add_host": {"host_name": "intruder"},
        "add_group": "intruders",
        "warnings": [],
        "deprecations": [],
        "ansible_facts": {"discovered_interpreter_python": "/tmp/python", "pg_version": 15},
    }
    ansible_core.clean_module_result(result)
    assert result == {"changed": True, "msg": "ok", "_ansible_parsed": True, "ansible_facts": {"pg_version": 15}}


def test_the_temporary_directory_a_module_run_left_on_the_host_is_removed(action, tmp_path):
    action._execute_module(
        module_name=MODULE, module_args={}, task_vars=host_vars(ansible_python_interpreter=sys.executable)
    )
    (left,) = (tmp_path / "remote_tmp").iterdir()  # without pipelining the module went there, and stays
    ansible_core.remove_remote_tmpdir(action)
    assert not left.exists()


def test_another_action_runs_for_a_copy_of_the_task_over_its_connection(action, task, tmp_path):
    source = tmp_path / "certkeeper"
    source.write_bytes(b"#!/usr/bin/python3 -I\n")
    args = {"src": str(source), "dest": str(tmp_path / "installed"), "mode": "0750"}
    copied = ansible_core.run_action(
        action, "ansible.legacy.copy", args, host_vars(ansible_python_interpreter=sys.executable)
    )
    assert copied["changed"] is True and copied["dest"] == args["dest"]
    assert (tmp_path / "installed").read_bytes() == source.read_bytes()
    assert stat.S_IMODE((tmp_path / "installed").stat().st_mode) == 0o750
    assert task.args == {"dest": "/usr/local/sbin/certkeeper"}  # this task's own arguments are left as they were
    assert list((tmp_path / "remote_tmp").iterdir()) == []  # copy cleaned up after itself
