"""The local runner: `make run` (with its mail catcher), `make test`, `make chaos`, and the private broker and
storage they start."""
