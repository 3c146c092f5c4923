"""Reusing an earlier experiment's runs: fingerprints, the plan, and the copying (see
``phoenix_upsert.experiments`` for the public resource)."""
