"""node.layout: era detection, paths, prompts read from the script itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from node_checkouts import make_checkout
from swarmtui.errors import UserError
from swarmtui.node.layout import (ERA_PROMPTS, ERAS, NotACheckout, PromptSpec, inspect_checkout,
                                  parse_prompts, prompt_for)


@pytest.mark.parametrize("era", ERAS)
def test_each_era_is_detected_with_its_paths(tmp_path, era):
    root = make_checkout(tmp_path / era, era)
    lay = inspect_checkout(root, env={})
    assert lay.era == era
    assert lay.root == root.resolve()
    assert lay.script == root.resolve() / "run_rl_swarm.sh"
    assert lay.identity_path == root.resolve() / "swarm.pem"
    assert lay.user_data_path == root.resolve() / "modal-login" / "temp-data" / "userData.json"
    assert lay.api_key_path.name == "userApiKey.json"
    assert lay.login_port == 3000
    assert lay.venv_bin is None
    assert lay.name_utils_path is not None and lay.name_utils_path.name == "name_utils.py"
    names = [p.name for p in lay.log_files]
    assert names == (["swarm.log", "yarn.log"] if era == "hivemind" else ["swarm_launcher.log", "yarn.log"])


def test_era_labels_and_entry_modules(tmp_path):
    expect = {
        "hivemind": ("Hivemind (v0.2–v0.4)", "hivemind_exp.gsm8k.train_single_gpu"),
        "genrl-swarm": ("genrl-swarm (v0.5.0–v0.5.1)", "genrl_swarm.runner.swarm_launcher"),
        "rgym": ("RGym (v0.5.2–v0.6)", "rgym_exp.runner.swarm_launcher"),
        "codezero": ("CodeZero (v0.7+)", "code_gen_exp.runner.swarm_launcher"),
    }
    for era, (label, module) in expect.items():
        lay = inspect_checkout(make_checkout(tmp_path / era, era), env={})
        assert (lay.era_label, lay.entry_module) == (label, module)


def test_codezero_wins_over_leftover_hivemind_dir(tmp_path):
    # HEAD still ships hivemind_exp/ (shrunk): code_gen_exp/ decides.
    root = make_checkout(tmp_path / "cz", "codezero")
    (root / "hivemind_exp" / "gsm8k").mkdir(parents=True)
    (root / "hivemind_exp" / "gsm8k" / "train_single_gpu.py").write_text("")
    assert inspect_checkout(root, env={}).era == "codezero"


@pytest.mark.parametrize("era", ERAS)
def test_prompts_come_from_the_script(tmp_path, era):
    lay = inspect_checkout(make_checkout(tmp_path / era, era), env={})
    keys = [p.key for p in lay.prompts]
    expected = {
        "hivemind": ["testnet", "swarm", "parameters", "hf_push", "hf_token"],
        "genrl-swarm": ["hf_push", "hf_token", "model"],
        "rgym": ["hf_push", "hf_token", "model", "prediction_market"],
        "codezero": ["hf_push", "hf_token", "model"],
    }[era]
    assert keys == expected
    by_key = {p.key: p for p in lay.prompts}
    assert by_key["hf_push"].text == (">> Would you like to push models you train in the RL swarm to the "
                                      "Hugging Face Hub? [y/N] ")
    assert by_key["hf_push"].default == "N" and not by_key["hf_push"].secret
    assert by_key["hf_token"] == PromptSpec("hf_token", "Enter your Hugging Face access token: ", "", True)


def test_a_fork_that_adds_a_prompt_is_seen(tmp_path):
    root = make_checkout(tmp_path / "fork", "codezero")
    script = root / "run_rl_swarm.sh"
    script.write_text(script.read_text().replace(
        "python -m code_gen_exp",
        'read -r -p ">> Your Discord handle for alerts: " DISCORD_HANDLE\n'
        'read -s -p "Enter your webhook password: " HOOK_PW\n'
        "python -m code_gen_exp"))
    lay = inspect_checkout(root, env={})
    extra = [p for p in lay.prompts if p.key.startswith("unknown-")]
    assert [(p.key, p.text, p.secret) for p in extra] == [
        ("unknown-DISCORD_HANDLE", ">> Your Discord handle for alerts: ", False),
        ("unknown-HOOK_PW", "Enter your webhook password: ", True),
    ]


def test_script_without_read_lines_falls_back_to_the_era_table(tmp_path):
    root = make_checkout(tmp_path / "r", "rgym")
    (root / "run_rl_swarm.sh").write_text("#!/bin/bash\npython -m rgym_exp.runner.swarm_launcher\n")
    assert inspect_checkout(root, env={}).prompts == ERA_PROMPTS["rgym"]


def test_escaped_quotes_and_single_quotes_in_prompts():
    specs = parse_prompts('read -p "Say \\"yes\\" for \\$5: " A\nread -p \'Plain text? \' B\n# read -p "commented" C\n')
    assert [(p.key, p.text) for p in specs] == [("unknown-A", 'Say "yes" for $5: '), ("unknown-B", "Plain text? ")]


def test_identity_path_from_environment(tmp_path):
    root = make_checkout(tmp_path / "n", "codezero")
    assert inspect_checkout(root, env={"IDENTITY_PATH": "/keys/swarm.pem"}).identity_path == Path("/keys/swarm.pem")
    # relative: the script runs with cwd = the checkout
    assert inspect_checkout(root, env={"IDENTITY_PATH": "user/keys/swarm.pem"}).identity_path == \
        root.resolve() / "user" / "keys" / "swarm.pem"
    assert inspect_checkout(root, env={"IDENTITY_PATH": ""}).identity_path == root.resolve() / "swarm.pem"


def test_login_port_from_script_and_variable(tmp_path):
    root = make_checkout(tmp_path / "p", "codezero")
    script = root / "run_rl_swarm.sh"
    script.write_text(script.read_text().replace("localhost:3000", "localhost:${LOGIN_PORT:-3111}"))
    assert inspect_checkout(root, env={}).login_port == 3111
    assert inspect_checkout(root, env={"LOGIN_PORT": "4222"}).login_port == 4222
    assert inspect_checkout(root, env={"LOGIN_PORT": "junk"}).login_port == 3111
    script.write_text(script.read_text().replace("localhost:${LOGIN_PORT:-3111}", "localhost:3999"))
    assert inspect_checkout(root, env={}).login_port == 3999


def test_venv_bin_when_present(tmp_path):
    root = make_checkout(tmp_path / "v", "rgym")
    (root / ".venv" / "bin").mkdir(parents=True)
    assert inspect_checkout(root, env={}).venv_bin == root.resolve() / ".venv" / "bin"


def test_not_a_checkout_names_what_is_missing(tmp_path):
    with pytest.raises(NotACheckout, match="no such directory"):
        inspect_checkout(tmp_path / "nope", env={})
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(NotACheckout, match="not a directory"):
        inspect_checkout(f, env={})
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotACheckout, match="run_rl_swarm.sh is missing"):
        inspect_checkout(tmp_path / "empty", env={})
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "run_rl_swarm.sh").write_text("#!/bin/bash\necho hello\n")
    with pytest.raises(NotACheckout, match="no known rl-swarm era") as exc:
        inspect_checkout(tmp_path / "odd", env={})
    assert isinstance(exc.value, UserError) and exc.value.exit_code == 2
    assert "code_gen_exp/" in str(exc.value)


def test_prompt_for_matches_partial_lines():
    specs = ERA_PROMPTS["rgym"]
    assert prompt_for(">> Would you like to push models you train in the RL swarm to the Hugging Face Hub? [y/N]",
                      specs).key == "hf_push"
    assert prompt_for("Enter your Hugging Face access token: ", specs).key == "hf_token"
    assert prompt_for(">> Would you like your model to participate in the AI Prediction Market? [Y/n] ",
                      specs).key == "prediction_market"
    assert prompt_for(">> Using default model from config", specs) is None
    assert prompt_for("", specs) is None


def test_real_sim_checkouts_are_understood(tmp_path):
    sim = pytest.importorskip("swarmtui.sim")
    for era in sim.ERAS:
        lay = inspect_checkout(sim.create_checkout(tmp_path / era, era), env={})
        assert lay.era == era
        assert "hf_push" in {p.key for p in lay.prompts}


# ---------------------------------------------------------------- issue 13: the Docker way, late logs, old eras


def test_the_docker_way_is_found_by_its_files(tmp_path):
    # docker-compose.yaml (v0.5.0 ... main) mounts ./user/keys, ./user/modal-login, ./user/logs;
    # swarm.containerfile sets IDENTITY_PATH=/home/gensyn/rl_swarm/keys/swarm.pem.
    root = make_checkout(tmp_path / "n", "codezero")
    (root / "user" / "keys").mkdir(parents=True)
    (root / "user" / "keys" / "swarm.pem").write_bytes(b"x")
    lay = inspect_checkout(root, env={})
    r = root.resolve()
    assert lay.launch == "docker"
    assert lay.identity_path == r / "user" / "keys" / "swarm.pem"
    assert lay.temp_data_dir == r / "user" / "modal-login"
    assert lay.user_data_path == r / "user" / "modal-login" / "userData.json"
    assert lay.api_key_path == r / "user" / "modal-login" / "userApiKey.json"
    assert lay.logs_dir == r / "user" / "logs"
    assert lay.log_files == (r / "user/logs/swarm_launcher.log", r / "user/logs/yarn.log")
    assert lay.venv_bin is None
    # the script way's own swarm.pem wins the guess: it is what run_rl_swarm.sh would use
    (root / "swarm.pem").write_bytes(b"y")
    assert inspect_checkout(root, env={}).launch == "script"
    assert inspect_checkout(root, env={}).identity_path == r / "swarm.pem"


def test_the_launch_command_decides_the_layout(tmp_path):
    root = make_checkout(tmp_path / "n", "rgym")
    r = root.resolve()
    lay = inspect_checkout(root, env={"IDENTITY_PATH": "/elsewhere/key.pem"}, docker=True)
    # the container never sees this environment's IDENTITY_PATH
    assert lay.launch == "docker" and lay.identity_path == r / "user" / "keys" / "swarm.pem"
    (root / "user" / "keys").mkdir(parents=True)
    (root / "user" / "keys" / "swarm.pem").write_bytes(b"x")
    lay = inspect_checkout(root, env={}, docker=False)
    assert lay.launch == "script" and lay.identity_path == r / "swarm.pem"
    assert lay.user_data_path == r / "modal-login" / "temp-data" / "userData.json"


def test_v0_5_training_log_is_followed_by_pattern(tmp_path):
    # rgym_exp/src/manager.py of v0.5.2 ... v0.5.8 adds a FileHandler for
    # os.path.join(log_dir, f"training_{self.animal_name}.log"); v0.6.0 removed it (353e519).
    root = make_checkout(tmp_path / "n", "rgym")
    manager = root / "rgym_exp" / "src" / "manager.py"
    manager.write_text("import os\n\nclass SwarmGameManager:\n    def __init__(self, log_dir='logs'):\n"
                       "        path = os.path.join(log_dir, f\"training_{self.animal_name}.log\")\n")
    assert inspect_checkout(root, env={}).log_globs == ("logs/training_*.log",)
    assert inspect_checkout(root, env={}, docker=True).log_globs == ("user/logs/training_*.log",)
    manager.write_text("import os\n# v0.6: no training log of its own\n")
    assert inspect_checkout(root, env={}).log_globs == ()
    assert inspect_checkout(make_checkout(tmp_path / "c", "codezero"), env={}).log_globs == ()


def test_early_hivemind_scripts_log_only_to_the_terminal(tmp_path):
    # v0.1.0-v0.4.2 never name logs/ (v0.4.3 added `mkdir -p "$ROOT/logs"` and logs/swarm.log);
    # v0.1.0 has no prompts and no modal-login at all, and still runs train_single_gpu.
    root = make_checkout(tmp_path / "v01", "hivemind")
    (root / "run_rl_swarm.sh").write_text(
        "#!/bin/bash\nROOT=$PWD\nDEFAULT_IDENTITY_PATH=\"\"\nIDENTITY_PATH=${IDENTITY_PATH:-$DEFAULT_IDENTITY_PATH}\n"
        "echo \"Getting requirements...\"\npip install -r \"$ROOT\"/requirements.txt\n"
        "python -m hivemind_exp.gsm8k.train_single_gpu --identity_path \"$IDENTITY_PATH\" --config \"$CONFIG_PATH\"\n")
    lay = inspect_checkout(root, env={})
    assert lay.era == "hivemind" and lay.log_files == ()
    assert lay.entry_module == "hivemind_exp.gsm8k.train_single_gpu"
    # a v0.4.4-shaped script names logs/ and gets swarm.log and yarn.log
    (root / "run_rl_swarm.sh").write_text("#!/bin/bash\nROOT=$PWD\nmkdir -p \"$ROOT/logs\"\n"
                                          "python -m hivemind_exp.gsm8k.train_single_gpu\n")
    assert [p.name for p in inspect_checkout(root, env={}).log_files] == ["swarm.log", "yarn.log"]
