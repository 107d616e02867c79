"""The local runner: `make run`, `make test`, `make chaos` and the private broker and storage they start."""
