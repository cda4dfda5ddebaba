"""Helpers shared by the benchmarks that train Forgery runs."""
import os


def finished(run, epochs):
    """A Forgery run whose metrics.jsonl has every epoch (a killed or unfinished one has fewer)."""
    try:
        with open(os.path.join(run, "metrics.jsonl")) as f:
            return sum(1 for line in f if line.strip()) >= epochs
    except OSError:
        return False
