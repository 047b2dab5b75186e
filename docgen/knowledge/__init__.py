"""docgen's knowledge base: package data (YAML) plus the loaders that validate it.

* :mod:`docgen.knowledge.conditions` — the condition language records use to say when
  they apply (shared by the ops and security knowledge).
* :mod:`docgen.knowledge.ops` — operations facts: provisioning times, failures,
  pitfalls, backup/restore, recommended alarms, dashboard metrics (``ops/*.yml``).

Users extend or override records with ``paths.knowledge`` in ``docgen.yml`` (same layout;
the same id replaces a record, a new id adds one).
"""
