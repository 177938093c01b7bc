"""Tracebacks as a real node prints them: frames through the checkout, its venv and the stdlib,
ending in the exact exception lines of rl-swarm-facts.md §4."""

from __future__ import annotations

import sys
from pathlib import Path

P2PD_ERROR = "hivemind.p2p.p2p_daemon_bindings.utils.P2PDaemonError"

CUDA_OOM = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.32 GiB. GPU 0 has a total capacity "
            "of 11.58 GiB of which 115.75 MiB is free. Including non-PyTorch memory, this process has 11.45 GiB "
            "memory in use. Of the allocated memory 10.92 GiB is allocated by PyTorch, and 338.10 MiB is reserved "
            "by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for "
            "Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")
CURRENT_BATCH = "UnboundLocalError: cannot access local variable 'current_batch' where it is not associated with a value"
BAD_PROBS = "RuntimeError: probability tensor contains either `inf`, `nan` or element < 0"
ERRNO11 = "BlockingIOError: [Errno 11] Resource temporarily unavailable"
EOF_ERROR = "EOFError: Ran out of input"
SUBMIT_HTTP = "requests.exceptions.HTTPError: 500 Server Error: Internal Server Error for url: http://localhost:{port}/api/submit-reward"

CHAIN_SUBMIT_LINES = (
    "Failed to submit to chain.",
    "This is most likely transient and will recover.",
    "There is no need to kill the program.",
    "If you encounter this error, please report it to Gensyn by",
    "filing a github issue here: https://github.com/gensyn-ai/rl-swarm/issues/ ",
    "including the full stacktrace.",
)


class Paths:
    def __init__(self, root: Path):
        pyver = f"python{sys.version_info.major}.{sys.version_info.minor}"
        self.root = str(root)
        self.site = f"{root}/.venv/lib/{pyver}/site-packages"
        self.std = f"{sys.base_prefix}/lib/{pyver}"


def _frames(rows) -> list[str]:
    out = []
    for file, line, func, code in rows:
        out.append(f'  File "{file}", line {line}, in {func}')
        if code:
            out.append(f"    {code}")
    return out


def tb(rows, last: str | list[str]) -> str:
    tail = [last] if isinstance(last, str) else list(last)
    return "\n".join(["Traceback (most recent call last):", *_frames(rows), *tail])


def _dht_wait(p: Paths) -> list:
    return [
        (f"{p.site}/hivemind/dht/dht.py", 88, "__init__", "self.run_in_background(await_ready=await_ready)"),
        (f"{p.site}/hivemind/dht/dht.py", 148, "run_in_background", "self.wait_until_ready(timeout)"),
        (f"{p.site}/hivemind/dht/dht.py", 151, "wait_until_ready", "self._ready.result(timeout=timeout)"),
        (f"{p.site}/hivemind/utils/mpfuture.py", 262, "result", "return super().result(timeout)"),
        (f"{p.std}/concurrent/futures/_base.py", 456, "result", "return self.__get_result()"),
        (f"{p.std}/concurrent/futures/_base.py", 401, "__get_result", "raise self._exception"),
    ]


def hivemind_main_frames(p: Paths) -> list:
    return [
        ("<frozen runpy>", 198, "_run_module_as_main", None),
        ("<frozen runpy>", 88, "_run_code", None),
        (f"{p.root}/hivemind_exp/gsm8k/train_single_gpu.py", 67, "<module>", "main()"),
        (f"{p.root}/hivemind_exp/gsm8k/train_single_gpu.py", 59, "main",
         "runner.run(model_args, grpo_args, training_args, gsm8k_stage1_samples)"),
        (f"{p.root}/hivemind_exp/runner/gensyn/testnet_grpo_runner.py", 61, "run", "super().run("),
    ]


def startup_failure(era: str, p: Paths, exc_line: str, exc_repr: str) -> str:
    """A DHT start that failed: a plain traceback (hivemind era) or Hydra's report (genrl eras)."""
    if era == "hivemind":
        rows = hivemind_main_frames(p) + [
            (f"{p.root}/hivemind_exp/runner/grpo_runner.py", 196, "run", "dht = self.setup_dht(grpo_args)"),
            (f"{p.root}/hivemind_exp/runner/gensyn/testnet_grpo_runner.py", 40, "setup_dht",
             "dht = super().setup_dht(grpo_args)"),
            (f"{p.root}/hivemind_exp/runner/grpo_runner.py", 147, "setup_dht",
             "dht = hivemind.DHT(start=True, startup_timeout=30, **self._dht_kwargs(grpo_args))"),
        ] + _dht_wait(p)
        return tb(rows, exc_line)
    exp = "rgym_exp" if era == "rgym" else "code_gen_exp"
    inner = [
        (f"{p.site}/hydra/_internal/instantiate/_instantiate2.py", 92, "_call_target", "return _target_(*args, **kwargs)"),
        (f"{p.site}/genrl/communication/hivemind/hivemind_backend.py", 84, "__init__", "self.dht = DHT("),
    ] + _dht_wait(p)
    outer = [
        ("<frozen runpy>", 198, "_run_module_as_main", None),
        ("<frozen runpy>", 88, "_run_code", None),
        (f"{p.root}/{exp}/runner/swarm_launcher.py", 45 if era == "codezero" else 28, "<module>", "main()"),
        (f"{p.site}/hydra/main.py", 94, "decorated_main", "_run_hydra("),
        (f"{p.site}/hydra/_internal/utils.py", 394, "_run_hydra", "_run_app("),
        (f"{p.site}/hydra/_internal/utils.py", 457, "_run_app", "run_and_report("),
        (f"{p.site}/hydra/_internal/utils.py", 223, "run_and_report", "raise ex"),
        (f"{p.site}/hydra/core/utils.py", 260, "return_value", "raise self._return_value"),
        (f"{p.site}/hydra/core/utils.py", 186, "run_job", "ret.return_value = task_function(task_cfg)"),
        (f"{p.root}/{exp}/runner/swarm_launcher.py", 31 if era == "codezero" else 22, "main",
         "game_manager = instantiate(cfg.game_manager)"),
        (f"{p.site}/hydra/_internal/instantiate/_instantiate2.py", 226, "instantiate",
         "return instantiate_node("),
        (f"{p.site}/hydra/_internal/instantiate/_instantiate2.py", 342, "instantiate_node",
         "value = instantiate_node("),
        (f"{p.site}/hydra/_internal/instantiate/_instantiate2.py", 347, "instantiate_node",
         "return _call_target(_target_, partial, args, kwargs, full_key)"),
        (f"{p.site}/hydra/_internal/instantiate/_instantiate2.py", 97, "_call_target",
         "raise InstantiationException(msg) from e"),
    ]
    return "\n".join([
        "Error executing job with overrides: []",
        tb(inner, exc_line),
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        tb(outer, [
            "hydra.errors.InstantiationException: Error in call to target "
            "'genrl.communication.hivemind.hivemind_backend.HivemindBackend':",
            exc_repr,
            "full_key: game_manager.communication",
        ]),
    ])


def dht_child_errno11(p: Paths) -> tuple[str, str]:
    """What the dying DHT process prints: hivemind's ERROR traceback, then multiprocessing's."""
    recv = [
        (f"{p.site}/hivemind/dht/dht.py", 121, "_run", "method, args, kwargs = self._inner_pipe.recv()"),
        (f"{p.std}/multiprocessing/connection.py", 249, "recv", "buf = self._recv_bytes()"),
        (f"{p.std}/multiprocessing/connection.py", 413, "_recv_bytes", "buf = self._recv(4)"),
        (f"{p.std}/multiprocessing/connection.py", 378, "_recv", "chunk = read(handle, remaining)"),
    ]
    first = tb(recv, ERRNO11)
    second = "Process DHT-1:\n" + tb([
        (f"{p.std}/multiprocessing/process.py", 314, "_bootstrap", "self.run()"),
        (f"{p.site}/hivemind/dht/dht.py", 130, "run", "loop.run_until_complete(_run())"),
        (f"{p.std}/asyncio/base_events.py", 653, "run_until_complete", "return future.result()"),
        (f"{p.site}/hivemind/dht/dht.py", 121, "_run", "method, args, kwargs = self._inner_pipe.recv()"),
        (f"{p.std}/multiprocessing/connection.py", 251, "recv", "return _ForkingPickler.loads(buf.getbuffer())"),
    ], EOF_ERROR)
    return first, second


def training_failure(era: str, p: Paths, last: str) -> str:
    """An exception out of a training step (the trainer's view)."""
    if era == "hivemind":
        rows = [
            (f"{p.root}/hivemind_exp/trainer/hivemind_grpo_trainer.py", 335, "train", "self._train()"),
            (f"{p.root}/hivemind_exp/trainer/hivemind_grpo_trainer.py", 324, "_train", "self.follower_train()"),
            (f"{p.root}/hivemind_exp/trainer/hivemind_grpo_trainer.py", 290, "follower_train",
             "self.train_stages(round_num, stage, is_coordinator=False)"),
            (f"{p.root}/hivemind_exp/trainer/gensyn/testnet_grpo_trainer.py", 28, "train_stages",
             "super().train_stages(round_num, start_stage, is_coordinator)"),
            (f"{p.root}/hivemind_exp/trainer/hivemind_grpo_trainer.py", 181, "train_stages",
             "self.train_stage_and_save(trainer, train_dataset)"),
            (f"{p.root}/hivemind_exp/trainer/hivemind_grpo_trainer.py", 226, "train_stage_and_save",
             "train_result = trainer.train()"),
            (f"{p.site}/transformers/trainer.py", 2240, "train", "return inner_training_loop("),
            (f"{p.site}/transformers/trainer.py", 2509, "_inner_training_loop",
             "batch_samples, num_items_in_batch = self.get_batch_samples(epoch_iterator, num_batches, args.device)"),
        ]
        if last == CURRENT_BATCH:
            rows += [
                (f"{p.site}/transformers/trainer.py", 5263, "get_batch_samples", "batch_samples.append(next(epoch_iterator))"),
                (f"{p.site}/accelerate/data_loader.py", 577, "__iter__",
                 "current_batch = send_to_device(current_batch, self.device, non_blocking=self._non_blocking)"),
            ]
        else:
            rows += [
                (f"{p.site}/trl/trainer/grpo_trainer.py", 985, "_prepare_inputs",
                 "prompt_completion_ids = unwrapped_model.generate("),
                (f"{p.site}/torch/utils/_contextlib.py", 116, "decorate_context", "return func(*args, **kwargs)"),
            ]
        return tb(rows, last)
    exp = "rgym_exp" if era == "rgym" else "code_gen_exp"
    return tb([
        (f"{p.site}/genrl/game/game_manager.py", 162, "run_game", "self.run_game_round()"),
        (f"{p.site}/genrl/game/game_manager.py", 135, "run_game_round", "self.trainer.train(self.state, self.data_manager, self.rewards)"),
        (f"{p.root}/{exp}/src/trainer.py", 65, "train", "self.step(state, data_manager, reward_manager)"),
        (f"{p.site}/genrl/trainer/grpo_trainer.py", 257, "step", "completions = self.generate(inputs)"),
        (f"{p.site}/genrl/trainer/grpo_trainer.py", 188, "generate", "outputs = self.model.generate("),
        (f"{p.site}/torch/utils/_contextlib.py", 116, "decorate_context", "return func(*args, **kwargs)"),
    ], last)


def genrl_stack(p: Paths, era: str) -> str:
    """logger.exception(..., stack_info=True) adds where it was logged from."""
    exp = "rgym_exp" if era == "rgym" else "code_gen_exp"
    return "\n".join(["Stack (most recent call last):", *_frames([
        ("<frozen runpy>", 198, "_run_module_as_main", None),
        ("<frozen runpy>", 88, "_run_code", None),
        (f"{p.root}/{exp}/runner/swarm_launcher.py", 28, "<module>", "main()"),
        (f"{p.site}/hydra/main.py", 94, "decorated_main", "_run_hydra("),
        (f"{p.root}/{exp}/runner/swarm_launcher.py", 23, "main", "game_manager.run_game()"),
        (f"{p.site}/genrl/game/game_manager.py", 170, "run_game",
         'get_logger().exception("Exception occurred during game run.", stack_info=True)'),
    ])])


def submit_failure(era: str, p: Paths, port: int) -> str:
    exp = {"hivemind": "hivemind_exp", "rgym": "rgym_exp", "codezero": "code_gen_exp"}[era]
    return tb([
        (f"{p.root}/{exp}/src/manager.py" if era != "hivemind" else f"{p.root}/hivemind_exp/chain_utils.py",
         141, "_try_submit_to_chain", "self.coordinator.submit_reward("),
        (f"{p.site}/genrl/blockchain/coordinator.py", 176, "submit_reward",
         'send_via_api(self.org_id, self.modal_proxy_url, "submit-reward", {'),
        (f"{p.site}/genrl/blockchain/coordinator.py", 223, "send_via_api", "response.raise_for_status()"),
        (f"{p.site}/requests/models.py", 1024, "raise_for_status", "raise HTTPError(http_error_msg, response=self)"),
    ], SUBMIT_HTTP.format(port=port))
