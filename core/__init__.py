"""The core every layer reads and nothing above it: the course's names and tables (registry, course), the typed plan
of a sweep (plan), hyperparameter facts (hparams), the row ledger (ledger), where results live (store) and strict
YAML (yamlfile). Arrows point down only: analysis / bench -> sweeps -> trainables -> core."""
