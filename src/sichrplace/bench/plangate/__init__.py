"""The plan-regression gate: the hot statements EXPLAINed on a seeded data set, against a
recorded baseline (docs/performance.md "The plan-regression gate")."""
