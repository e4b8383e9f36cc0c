"""Fault injection under load (issue 20): the faults (`faults`), the runner and invariants."""
