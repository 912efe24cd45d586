"""llama.cpp's weight repacking: off by default where the CPU reports AMX (llama.cpp#20824).

../shared/cases/engines.md, section 1: on a Xeon with AMX, llama.cpp's AMX buffer segfaults; the
same load with ``use_extra_bufts = False`` runs. This machine may have no AMX, so the choice is
tested on fake /proc/cpuinfo files, and the load with each choice on the real engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wattbench.backends.llamacpp import LlamaCppBackend, cpu_flags, repack_choice
from wattbench.backends.protocol import BackendOptions, LoadOptions, Sampling
from wattbench.records.machine import fingerprint

SAPPHIRE_RAPIDS = (
    "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "flags\t\t: fpu sse2 avx512f avx512bw avx_vnni amx_bf16 amx_tile amx_int8\n"
)
EPYC = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f\n"


def cpuinfo(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return path


def test_auto_turns_repacking_off_where_the_cpu_reports_amx(tmp_path: Path) -> None:
    flags = cpu_flags(cpuinfo(tmp_path, SAPPHIRE_RAPIDS))
    assert {"amx_tile", "amx_int8"} <= flags
    on, why = repack_choice("auto", flags)
    assert on is False
    assert why == ("auto: the CPU reports AMX (amx_bf16, amx_int8, amx_tile), where llama.cpp's AMX "
                   "path segfaults (llama.cpp#20824)")


def test_auto_keeps_llama_cpps_default_elsewhere_and_the_option_wins(tmp_path: Path) -> None:
    assert repack_choice("auto", cpu_flags(cpuinfo(tmp_path, EPYC))) == (
        True, "auto: llama.cpp's default (the CPU reports no AMX)")
    assert repack_choice("auto", cpu_flags(tmp_path / "absent")) == (
        True, "auto: llama.cpp's default (the CPU reports no AMX)")
    amx = cpu_flags(cpuinfo(tmp_path, SAPPHIRE_RAPIDS))
    assert repack_choice("on", amx) == (True, "--wb-repack on")
    assert repack_choice("off", frozenset()) == (False, "--wb-repack off")


@pytest.mark.parametrize("asked", ["on", "off"])
def test_the_engine_is_loaded_as_chosen_and_says_so(tiny_gguf: Path, asked: str) -> None:
    backend = LlamaCppBackend(BackendOptions())
    model = backend.load(backend.resolve(str(tiny_gguf))[0], LoadOptions(context_tokens=256, repack=asked))
    try:
        assert model._llm.model_params.use_extra_bufts is (asked == "on")  # what llama.cpp was given
        assert model.metadata["engine_repack"] == asked
        assert model.metadata["engine_repack_reason"] == f"--wb-repack {asked}"
        assert model.generate([{"role": "user", "content": "a"}], Sampling(max_tokens=4, temperature=0)).text
    finally:
        model.close()
    import llama_cpp.llama_cpp as low

    assert low.llama_model_default_params().use_extra_bufts is True  # the swap is undone


def test_repacking_off_has_a_fingerprint_of_its_own_and_on_keeps_the_old_one() -> None:
    old = {"machine_cpu": "Xeon", "backend": "llamacpp", "engine_version": "x", "model_sha256": "ab"}
    assert fingerprint({**old, "engine_repack": "on"}) == fingerprint(old)
    assert fingerprint({**old, "engine_repack": "off"}) != fingerprint(old)


def test_the_run_records_the_choice(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    from test_plugin import records, run_suite

    result, _ = run_suite(suite, "--wb-model", str(tiny_gguf), "--wb-tasks", "qa", "--wb-loads", "short",
                          "--wb-levels", "L0", "--wb-repack", "off", "--wb-run-dir", "run")
    result.assert_outcomes(passed=2)
    (record,) = records(suite.path / "run")
    assert (record["engine_repack"], record["engine_repack_reason"]) == ("off", "--wb-repack off")
    assert record["engine_isolation"] == "process"
