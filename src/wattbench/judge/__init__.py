"""The judge: an LLM grading answers (single, rubric, pairwise) and the phase that runs it."""
