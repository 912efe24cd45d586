"""The measured window and the work inside it: the runner, the workload protocol, generation (the
first workload), the held model, the energy monitor, and the contended-rerun policy."""
