"""The machine description and fingerprint: /proc/cpuinfo of x86 and Arm, GPUs and driver through
the fake pynvml, a Jetson's device-tree model, and what a fingerprint changes with."""

from __future__ import annotations

from pathlib import Path

from fakenvml import FakeGpu, FakeNvml

from wattbench.records.machine import FIELDS, cpu_model, describe_machine, fingerprint, fingerprint_difference

X86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7763 64-Core Processor\n"
ARM = "processor\t: 0\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd\n\nHardware\t: NVIDIA Jetson Orin\n"


def _root(tmp_path: Path, cpuinfo: str, board: bytes | None = None) -> Path:
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/cpuinfo").write_text(cpuinfo)
    if board is not None:
        (tmp_path / "proc/device-tree/model").write_bytes(board)
    return tmp_path


def test_cpu_names_from_x86_and_arm_cpuinfo(tmp_path: Path) -> None:
    assert cpu_model(_root(tmp_path / "x", X86) / "proc/cpuinfo") == "AMD EPYC 7763 64-Core Processor"
    assert cpu_model(_root(tmp_path / "a", ARM) / "proc/cpuinfo") == "NVIDIA Jetson Orin"


def test_gpus_and_driver_come_from_nvml_and_the_board_from_the_device_tree(tmp_path: Path) -> None:
    nvml = FakeNvml([FakeGpu(name="NVIDIA H100 80GB HBM3"), FakeGpu(name="NVIDIA L4")])
    board = b"NVIDIA Jetson AGX Orin Developer Kit\0"
    machine = describe_machine({"nvml": nvml}, _root(tmp_path, ARM, board))
    assert machine.gpus == "NVIDIA H100 80GB HBM3; NVIDIA L4" and machine.gpu_driver == "550.54.15"
    assert machine.board == "NVIDIA Jetson AGX Orin Developer Kit"
    assert not nvml.initialised  # NVML is shut down again


def test_no_driver_means_no_gpu(tmp_path: Path) -> None:
    machine = describe_machine({"nvml": FakeNvml([], driver_loaded=False)}, _root(tmp_path, X86))
    assert (machine.gpus, machine.gpu_driver, machine.board) == ("none", "", "")


def test_the_fingerprint_changes_with_each_field_and_only_with_them() -> None:
    record = {"machine_cpu": "c", "machine_gpus": "g", "gpu_driver_version": "d", "backend": "llamacpp",
              "engine_version": "e", "model_sha256": "m", "latency_s": 1.0}
    assert fingerprint({**record, "latency_s": 2.0, "task": "qa"}) == fingerprint(record)
    for field in FIELDS:
        changed = {**record, field: "other"}
        assert fingerprint(changed) != fingerprint(record), field
        assert fingerprint_difference(record, changed)[0].startswith(f"{field}: ")
    # A server model's digest stands for the file's sha256.
    assert fingerprint({**record, "model_sha256": None, "model_digest": "m"}) == fingerprint(record)


def test_a_fingerprint_reads_a_models_digest_first_then_its_file_hash_then_its_id() -> None:
    from wattbench.records.machine import fingerprint

    base = {"machine_cpu": "cpu", "backend": "llamacpp"}
    digest_d = fingerprint({**base, "model_digest": "d"})
    digest_s = fingerprint({**base, "model_digest": "s"})
    assert fingerprint({**base, "model_digest": "d", "model_sha256": "s"}) == digest_d
    assert fingerprint({**base, "model_sha256": "s", "model_id": "i"}) == digest_s
    assert fingerprint({**base, "model_id": "i"}) == fingerprint({**base, "model_digest": "i"})
    assert fingerprint({**base, "model_id": "i"}) != fingerprint(base)
    # A value no cache can key on (a list) still gets its fingerprint, and a different one.
    assert fingerprint({**base, "machine_gpus": ["a", "b"]}) != fingerprint(base)
