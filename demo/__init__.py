"""Demo data for `make run` and the tests; installed by the local and test settings only, never in production."""
